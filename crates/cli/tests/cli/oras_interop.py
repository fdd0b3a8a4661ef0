"""Drives the Python `oras` package for orca-cli's interop test.

Usage (run with the venv's python, from the folder holding the files to push):
  pull TARGET OUTDIR           OrasClient.pull of TARGET into OUTDIR
  push TARGET NAME...          OrasClient.push of the files and folders NAME... (relative)
  attach TARGET MEDIATYPE DIGEST SIZE NAME...
                               the same push, as a referrer of the manifest DIGEST
"""

import sys

import oras.client
import oras.oci


def main(argv):
    command, target, args = argv[1], argv[2], argv[3:]
    host = target.split("/", 1)[0]
    client = oras.client.OrasClient(hostname=host, insecure=True)
    if command == "pull":
        (outdir,) = args
        client.pull(target=target, outdir=outdir)
    elif command == "push":
        client.push(target=target, files=args, quiet=True)
    elif command == "attach":
        media_type, digest, size, *files = args
        subject = oras.oci.Subject(media_type, digest, int(size))
        client.push(target=target, files=files, subject=subject, quiet=True)
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv)
