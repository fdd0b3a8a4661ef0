//! Paginated listings: tags and the catalog.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::stream::{BoxStream, Stream, StreamExt};
use http::Method;
use http::header;
use orca_auth::Scope;
use orca_reference::Reference;
use serde::Deserialize;

use crate::client::{Client, MAX_PAGES, next_link, pull_scope};
use crate::error::{Error, redact_url};
use crate::transport::Call;

/// The most bytes of one listing page.
const PAGE_LIMIT: u64 = 16 * 1024 * 1024;

/// A stream of names (tags or repositories) fetched page by page as it is polled.
///
/// Pages follow the registry's `Link: <…>; rel="next"` header (relative or absolute); a
/// page that links to itself, or more than 100,000 pages, ends the stream with
/// [`Error::Protocol`].
pub struct Names {
    inner: BoxStream<'static, Result<String, Error>>,
}

impl std::fmt::Debug for Names {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Names").finish_non_exhaustive()
    }
}

impl Stream for Names {
    type Item = Result<String, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl Names {
    /// Collect every name (convenience for small listings).
    pub async fn collect_all(mut self) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        while let Some(name) = self.next().await {
            out.push(name?);
        }
        Ok(out)
    }
}

#[derive(Deserialize)]
struct TagsPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct CatalogPage {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

#[derive(Clone, Copy)]
enum ListKind {
    Tags,
    Catalog,
}

struct Pager {
    client: Client,
    registry: String,
    scopes: Vec<Scope>,
    kind: ListKind,
    next: Option<String>,
    buffer: VecDeque<String>,
    pages: usize,
}

impl Pager {
    async fn next_name(&mut self) -> Option<Result<String, Error>> {
        loop {
            if let Some(name) = self.buffer.pop_front() {
                return Some(Ok(name));
            }
            let url = self.next.take()?;
            if let Err(e) = self.fetch_page(url).await {
                self.next = None;
                return Some(Err(e));
            }
        }
    }

    async fn fetch_page(&mut self, url: String) -> Result<(), Error> {
        self.pages += 1;
        if self.pages > MAX_PAGES {
            return Err(Error::protocol(
                &Method::GET,
                &url,
                format!("more than {MAX_PAGES} pages"),
            ));
        }
        let call = Call::new(
            Method::GET,
            url.clone(),
            &self.registry,
            self.scopes.clone(),
        )
        .header(header::ACCEPT, "application/json")?;
        let response = self.client.inner.send_expect(call, &[200]).await?;
        let next = next_link(&response.headers, &response.url);
        if next.as_deref() == Some(url.as_str()) {
            return Err(Error::protocol(
                &Method::GET,
                &url,
                "the Link header points at the same page",
            ));
        }
        let bytes = self
            .client
            .inner
            .collect(response.body, PAGE_LIMIT, &Method::GET, &url)
            .await?;
        let bad = |e: serde_json::Error| Error::Protocol {
            method: "GET".into(),
            url: redact_url(&url),
            message: "the listing is not the JSON the spec describes".into(),
            source: Some(Box::new(e)),
        };
        let names = match self.kind {
            ListKind::Tags => {
                serde_json::from_slice::<TagsPage>(&bytes)
                    .map_err(bad)?
                    .tags
            }
            ListKind::Catalog => {
                serde_json::from_slice::<CatalogPage>(&bytes)
                    .map_err(bad)?
                    .repositories
            }
        };
        self.buffer.extend(names.unwrap_or_default());
        self.next = next;
        Ok(())
    }

    fn into_names(self) -> Names {
        let stream = futures_util::stream::unfold(self, |mut pager| async move {
            let item = pager.next_name().await?;
            Some((item, pager))
        });
        Names {
            inner: stream.boxed(),
        }
    }
}

impl Client {
    /// The tags of the reference's repository, fetched `page_size` at a time (`n=`;
    /// `None` lets the registry choose).
    pub fn tags(&self, repository: &Reference, page_size: Option<u32>) -> Names {
        let url = self.repo_url(repository.registry(), repository.repository(), "tags/list");
        let url = match page_size {
            Some(n) => format!("{url}?n={n}"),
            None => url,
        };
        Pager {
            client: self.clone(),
            registry: repository.registry().to_string(),
            scopes: pull_scope(repository.repository()),
            kind: ListKind::Tags,
            next: Some(url),
            buffer: VecDeque::new(),
            pages: 0,
        }
        .into_names()
    }

    /// The repositories of `registry` (`GET /v2/_catalog`), `page_size` at a time.
    pub fn catalog(&self, registry: &str, page_size: Option<u32>) -> Names {
        let url = format!("{}/v2/_catalog", self.inner.base_url(registry));
        let url = match page_size {
            Some(n) => format!("{url}?n={n}"),
            None => url,
        };
        Pager {
            client: self.clone(),
            registry: registry.to_owned(),
            scopes: vec![Scope::registry_catalog()],
            kind: ListKind::Catalog,
            next: Some(url),
            buffer: VecDeque::new(),
            pages: 0,
        }
        .into_names()
    }
}
