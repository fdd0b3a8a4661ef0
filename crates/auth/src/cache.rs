//! The token cache shared by every clone of an [`Authenticator`](crate::Authenticator).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use orca_reference::Registry;

use crate::authorization::Authorization;
use crate::scope::{Scope, canonical_key};
use crate::secret::Secret;

/// At most this many tokens are kept; the soonest to expire goes first.
const MAX_TOKENS: usize = 1024;

#[derive(Clone)]
struct CachedToken {
    registry: Registry,
    service: String,
    key: String,
    scopes: Vec<Scope>,
    width: usize,
    authorization: Authorization,
    received: SystemTime,
    expires_at: SystemTime,
}

impl CachedToken {
    /// Whether the token still has `margin` to live at `now`, after the expiry skew: the
    /// configured skew, or a quarter of the token's lifetime when that is shorter (so a
    /// token of any lifetime is used until close to its end).
    fn usable(&self, now: SystemTime, skew: Duration, margin: Duration) -> bool {
        let lifetime = self
            .expires_at
            .duration_since(self.received)
            .unwrap_or(Duration::ZERO);
        let skew = skew.min(lifetime / 4);
        let deadline = now.checked_add(skew.max(margin)).unwrap_or(now);
        self.expires_at > deadline
    }

    /// Half the token's lifetime, or `headroom` when that is shorter: what a streamed
    /// request wants left.
    fn stream_margin(&self, headroom: Duration) -> Duration {
        let lifetime = self
            .expires_at
            .duration_since(self.received)
            .unwrap_or(Duration::ZERO);
        headroom.min(lifetime / 2)
    }
}

/// Where a registry's token service is, remembered so that a `DENIED` answer without a
/// challenge can be re-negotiated.
#[derive(Clone, Debug)]
pub(crate) struct RememberedChallenge {
    pub(crate) header: String,
}

/// Plain data behind the authenticator's mutex.
#[derive(Default)]
pub(crate) struct TokenCache {
    tokens: Vec<CachedToken>,
    refresh: HashMap<(Registry, String), Secret>,
    basic: HashMap<Registry, Authorization>,
    challenges: HashMap<Registry, RememberedChallenge>,
}

impl TokenCache {
    /// The narrowest unexpired token (or the Basic header) covering every wanted scope.
    /// With `stream_headroom`, only a token with that much (or half its lifetime) left.
    pub(crate) fn lookup(
        &self,
        registry: &Registry,
        wanted: &[Scope],
        now: SystemTime,
        skew: Duration,
        stream_headroom: Option<Duration>,
    ) -> Option<Authorization> {
        let token = self
            .tokens
            .iter()
            .filter(|t| {
                let margin = stream_headroom.map_or(Duration::ZERO, |h| t.stream_margin(h));
                t.registry == *registry && t.usable(now, skew, margin)
            })
            .filter(|t| Scope::all_covered(&t.scopes, wanted))
            .min_by_key(|t| (t.width, t.scopes.len(), t.expires_at))
            .map(|t| t.authorization.clone());
        token.or_else(|| self.basic.get(registry).cloned())
    }

    pub(crate) fn insert_token(
        &mut self,
        registry: &Registry,
        service: &str,
        scopes: &[Scope],
        authorization: Authorization,
        expires_at: SystemTime,
        now: SystemTime,
    ) {
        let scopes = Scope::merge(scopes);
        let key = canonical_key(&scopes);
        self.tokens.retain(|t| {
            t.expires_at > now && !(t.registry == *registry && t.service == service && t.key == key)
        });
        if self.tokens.len() >= MAX_TOKENS
            && let Some((index, _)) = self
                .tokens
                .iter()
                .enumerate()
                .min_by_key(|(_, t)| t.expires_at)
        {
            self.tokens.swap_remove(index);
        }
        let width = scopes.iter().map(|s| s.actions().count().max(1)).sum();
        self.tokens.push(CachedToken {
            registry: registry.clone(),
            service: service.to_owned(),
            key,
            scopes,
            width,
            authorization,
            received: now,
            expires_at,
        });
    }

    /// Drops tokens that have expired at `now`.
    pub(crate) fn purge_expired(&mut self, now: SystemTime) {
        self.tokens.retain(|t| t.expires_at > now);
    }

    pub(crate) fn insert_basic(&mut self, registry: &Registry, authorization: Authorization) {
        self.basic.insert(registry.clone(), authorization);
    }

    pub(crate) fn refresh_token(&self, registry: &Registry, service: &str) -> Option<Secret> {
        self.refresh
            .get(&(registry.clone(), service.to_owned()))
            .cloned()
    }

    pub(crate) fn insert_refresh_token(
        &mut self,
        registry: &Registry,
        service: &str,
        token: Secret,
    ) {
        self.refresh
            .insert((registry.clone(), service.to_owned()), token);
    }

    /// Every refresh token held for `registry`, with its token service.
    pub(crate) fn refresh_tokens(&self, registry: &Registry) -> Vec<(String, Secret)> {
        self.refresh
            .iter()
            .filter(|((r, _), _)| r == registry)
            .map(|((_, service), token)| (service.clone(), token.clone()))
            .collect()
    }

    pub(crate) fn remove_refresh_token(&mut self, registry: &Registry, service: &str) {
        self.refresh.remove(&(registry.clone(), service.to_owned()));
    }

    pub(crate) fn remember_challenge(&mut self, registry: &Registry, header: String) {
        self.challenges
            .insert(registry.clone(), RememberedChallenge { header });
    }

    pub(crate) fn challenge(&self, registry: &Registry) -> Option<RememberedChallenge> {
        self.challenges.get(registry).cloned()
    }

    /// Drops every cached token or Basic header equal to `authorization` for `registry`.
    pub(crate) fn reject(&mut self, registry: &Registry, authorization: &Authorization) {
        self.tokens
            .retain(|t| !(t.registry == *registry && t.authorization == *authorization));
        if self.basic.get(registry) == Some(authorization) {
            self.basic.remove(registry);
        }
    }

    pub(crate) fn token_count(&self) -> usize {
        self.tokens.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Action;
    use std::time::UNIX_EPOCH;

    fn reg(name: &str) -> Registry {
        name.parse().expect("a registry name")
    }

    fn bearer(t: &str) -> Authorization {
        Authorization::bearer(&Secret::new(t)).expect("valid token")
    }

    #[test]
    fn narrowest_covering_unexpired_token_wins() {
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        let skew = Duration::from_secs(10);
        let mut cache = TokenCache::default();
        let pull = Scope::repository("a", &[Action::Pull]);
        let push = Scope::repository("a", &[Action::Pull, Action::Push]);
        let other = Scope::repository("b", &[Action::Pull]);
        cache.insert_token(
            &reg("r.example"),
            "s",
            &[push.clone(), other.clone()],
            bearer("wide"),
            now + Duration::from_secs(300),
            now,
        );
        cache.insert_token(
            &reg("r.example"),
            "s",
            std::slice::from_ref(&push),
            bearer("push"),
            now + Duration::from_secs(300),
            now,
        );
        cache.insert_token(
            &reg("r.example"),
            "s",
            std::slice::from_ref(&pull),
            bearer("pull-expiring"),
            now + Duration::from_secs(5),
            now - Duration::from_secs(100),
        );
        assert_eq!(cache.token_count(), 3);
        assert_eq!(
            cache.lookup(
                &reg("r.example"),
                std::slice::from_ref(&pull),
                now,
                skew,
                None
            ),
            Some(bearer("push"))
        );
        assert_eq!(
            cache.lookup(
                &reg("r.example"),
                &[pull.clone(), other.clone()],
                now,
                skew,
                None
            ),
            Some(bearer("wide"))
        );
        assert_eq!(
            cache.lookup(
                &reg("other.example"),
                std::slice::from_ref(&pull),
                now,
                skew,
                None
            ),
            None
        );
        assert_eq!(
            cache.lookup(
                &reg("r.example"),
                &[Scope::registry_catalog()],
                now,
                skew,
                None
            ),
            None
        );
        // Everything expires.
        let later = now + Duration::from_secs(295);
        assert_eq!(
            cache.lookup(
                &reg("r.example"),
                std::slice::from_ref(&pull),
                later,
                skew,
                None
            ),
            None
        );
        // Rejecting removes exactly that token.
        cache.reject(&reg("r.example"), &bearer("push"));
        assert_eq!(
            cache.lookup(&reg("r.example"), &[pull], now, skew, None),
            Some(bearer("wide"))
        );
    }

    #[test]
    fn same_key_replaces() {
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        let mut cache = TokenCache::default();
        let a = Scope::repository("a", &[Action::Pull]);
        cache.insert_token(
            &reg("r.example"),
            "s",
            std::slice::from_ref(&a),
            bearer("1"),
            now + Duration::from_secs(300),
            now,
        );
        cache.insert_token(
            &reg("r.example"),
            "s",
            &[a.clone(), a.clone()],
            bearer("2"),
            now + Duration::from_secs(300),
            now,
        );
        assert_eq!(cache.token_count(), 1);
        assert_eq!(
            cache.lookup(&reg("r.example"), &[a], now, Duration::ZERO, None),
            Some(bearer("2"))
        );
    }

    #[test]
    fn short_lived_tokens_are_used_and_streams_want_headroom() {
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        let skew = Duration::from_secs(10);
        let pull = [Scope::repository("a", &[Action::Pull])];
        let mut cache = TokenCache::default();
        // An 8-second token with a 10-second skew: used until 2 s before its end.
        cache.insert_token(
            &reg("r.example"),
            "s",
            &pull,
            bearer("short"),
            now + Duration::from_secs(8),
            now,
        );
        let at = |secs| now + Duration::from_secs(secs);
        assert_eq!(
            cache.lookup(&reg("r.example"), &pull, at(5), skew, None),
            Some(bearer("short"))
        );
        assert_eq!(
            cache.lookup(&reg("r.example"), &pull, at(7), skew, None),
            None
        );
        // A 300-second token: a plain request uses it until 10 s before its end, a
        // streamed one only while half its life (or the headroom) is left.
        let mut cache = TokenCache::default();
        cache.insert_token(&reg("r.example"), "s", &pull, bearer("long"), at(300), now);
        let headroom = Some(Duration::from_secs(600));
        assert_eq!(
            cache.lookup(&reg("r.example"), &pull, at(100), skew, headroom),
            Some(bearer("long"))
        );
        assert_eq!(
            cache.lookup(&reg("r.example"), &pull, at(200), skew, headroom),
            None
        );
        assert_eq!(
            cache.lookup(&reg("r.example"), &pull, at(200), skew, None),
            Some(bearer("long"))
        );
        let small_headroom = Some(Duration::from_secs(60));
        assert_eq!(
            cache.lookup(&reg("r.example"), &pull, at(200), skew, small_headroom),
            Some(bearer("long"))
        );
        assert_eq!(
            cache.lookup(&reg("r.example"), &pull, at(250), skew, small_headroom),
            None
        );
    }
}
