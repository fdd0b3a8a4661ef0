"""Drives the Python `oras` package for orca-unpack's interop test.

Usage (run with the venv's python):
  pack FOLDER OUT_TGZ                         oras.utils.make_targz, as its pusher does
  extract TGZ OUTDIR                          oras.utils.extract_targz, as its puller does
  push-and-fetch HOST REPO FOLDER OUTDIR      push FOLDER with OrasClient.push, then save
                                              the manifest and every layer blob in OUTDIR
  upload-and-pull HOST REPO BLOB DESC OUTDIR  upload BLOB (descriptor JSON in DESC) with an
                                              empty config and a manifest, then OrasClient.pull
"""

import json
import os
import sys

import oras.client
import oras.oci
import oras.utils
import requests


def push_and_fetch(host, repo, folder, outdir):
    client = oras.client.OrasClient(hostname=host, insecure=True)
    parent, name = os.path.split(os.path.abspath(folder))
    os.chdir(parent)
    client.push(target=f"{host}/{repo}:v1", files=[name], quiet=True)
    manifest = requests.get(
        f"http://{host}/v2/{repo}/manifests/v1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        timeout=30,
    )
    manifest.raise_for_status()
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "manifest.json"), "wb") as f:
        f.write(manifest.content)
    for layer in manifest.json()["layers"]:
        blob = requests.get(f"http://{host}/v2/{repo}/blobs/{layer['digest']}", timeout=30)
        blob.raise_for_status()
        with open(os.path.join(outdir, layer["digest"].replace(":", "-")), "wb") as f:
            f.write(blob.content)


def upload_and_pull(host, repo, blob, desc, outdir):
    client = oras.client.OrasClient(hostname=host, insecure=True)
    target = f"{host}/{repo}:orca"
    container = client.get_container(target)
    with open(desc) as f:
        layer = json.load(f)
    client.upload_blob(blob, container, layer).raise_for_status()
    manifest = oras.oci.NewManifest()
    manifest["layers"].append(layer)
    conf, config_file = oras.oci.ManifestConfig()
    empty = os.path.join(outdir + ".config")
    with open(empty, "w") as f:
        f.write("{}")
    client.upload_blob(empty, container, conf).raise_for_status()
    manifest["config"] = conf
    client.upload_manifest(manifest, container).raise_for_status()
    client.pull(target=target, outdir=outdir)


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "pack":
        folder, out = args
        tmp = oras.utils.make_targz(folder)
        os.replace(tmp, out)
    elif command == "extract":
        oras.utils.extract_targz(*args)
    elif command == "push-and-fetch":
        push_and_fetch(*args)
    elif command == "upload-and-pull":
        upload_and_pull(*args)
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv)
