//! The request log and the connection counter tests read.

use http::{Method, StatusCode};
use orca_mock_registry::{AuthSeen, Config, LoggedRequest};

use crate::client::Http;
use crate::target::mock;

#[tokio::test]
async fn requests_are_logged_with_query_status_and_auth() {
    let t = mock(Config::default()).await;
    let reg = t.mock.as_ref().expect("mock");
    t.http.get(&t.url("/v2/")).await;
    t.http.get(&t.url("/v2/a/tags/list?n=1")).await;
    t.http
        .req(
            "GET",
            &t.url("/v2/"),
            &[("authorization", "Bearer abc")],
            "",
        )
        .await;
    let logged = reg.requests();
    let want = [
        ("/v2/", 200, AuthSeen::None),
        ("/v2/a/tags/list?n=1", 404, AuthSeen::None),
        ("/v2/", 200, AuthSeen::Bearer),
    ];
    assert_eq!(logged.len(), want.len());
    for (got, (path, status, auth)) in logged.iter().zip(want) {
        assert_eq!(
            got,
            &LoggedRequest {
                method: Method::GET,
                path: path.to_owned(),
                status: StatusCode::from_u16(status).expect("status"),
                auth,
            }
        );
    }
    reg.clear_requests();
    assert!(reg.requests().is_empty());
}

#[tokio::test]
async fn connections_are_counted() {
    let t = mock(Config::default()).await;
    let reg = t.mock.as_ref().expect("mock");
    assert_eq!(reg.connections(), 0);
    for _ in 0..3 {
        assert_eq!(t.http.get(&t.url("/v2/")).await.status, 200);
    }
    assert_eq!(
        reg.connections(),
        1,
        "one pooled client reuses its connection"
    );
    let other = Http::new();
    assert_eq!(other.get(&t.url("/v2/")).await.status, 200);
    assert_eq!(reg.connections(), 2);
}

#[tokio::test]
async fn dropping_the_registry_frees_its_port() {
    let t = mock(Config::default()).await;
    let addr = t.mock.as_ref().expect("mock").addr();
    drop(t);
    // Bounded: the accept loop is aborted on drop; give the runtime a few turns.
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(refused, "{addr} still accepts connections after drop");
}
