//! The token cache shared by every clone of an [`Authenticator`](crate::Authenticator).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::authorization::Authorization;
use crate::scope::{Scope, canonical_key};
use crate::secret::Secret;

/// At most this many tokens are kept; the soonest to expire goes first.
const MAX_TOKENS: usize = 1024;

#[derive(Clone)]
struct CachedToken {
    registry: String,
    service: String,
    key: String,
    scopes: Vec<Scope>,
    width: usize,
    authorization: Authorization,
    expires_at: SystemTime,
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
    refresh: HashMap<(String, String), Secret>,
    basic: HashMap<String, Authorization>,
    challenges: HashMap<String, RememberedChallenge>,
}

impl TokenCache {
    /// The narrowest unexpired token (or the Basic header) covering every wanted scope.
    pub(crate) fn lookup(
        &self,
        registry: &str,
        wanted: &[Scope],
        now: SystemTime,
        skew: Duration,
    ) -> Option<Authorization> {
        let deadline = now.checked_add(skew).unwrap_or(now);
        let token = self
            .tokens
            .iter()
            .filter(|t| t.registry == registry && t.expires_at > deadline)
            .filter(|t| Scope::all_covered(&t.scopes, wanted))
            .min_by_key(|t| (t.width, t.scopes.len(), t.expires_at))
            .map(|t| t.authorization.clone());
        token.or_else(|| self.basic.get(registry).cloned())
    }

    pub(crate) fn insert_token(
        &mut self,
        registry: &str,
        service: &str,
        scopes: &[Scope],
        authorization: Authorization,
        expires_at: SystemTime,
        now: SystemTime,
    ) {
        let scopes = Scope::merge(scopes);
        let key = canonical_key(&scopes);
        self.tokens.retain(|t| {
            t.expires_at > now && !(t.registry == registry && t.service == service && t.key == key)
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
            registry: registry.to_owned(),
            service: service.to_owned(),
            key,
            scopes,
            width,
            authorization,
            expires_at,
        });
    }

    /// Drops tokens that have expired at `now`.
    pub(crate) fn purge_expired(&mut self, now: SystemTime) {
        self.tokens.retain(|t| t.expires_at > now);
    }

    pub(crate) fn insert_basic(&mut self, registry: &str, authorization: Authorization) {
        self.basic.insert(registry.to_owned(), authorization);
    }

    pub(crate) fn refresh_token(&self, registry: &str, service: &str) -> Option<Secret> {
        self.refresh
            .get(&(registry.to_owned(), service.to_owned()))
            .cloned()
    }

    pub(crate) fn insert_refresh_token(&mut self, registry: &str, service: &str, token: Secret) {
        self.refresh
            .insert((registry.to_owned(), service.to_owned()), token);
    }

    pub(crate) fn remove_refresh_token(&mut self, registry: &str, service: &str) {
        self.refresh
            .remove(&(registry.to_owned(), service.to_owned()));
    }

    pub(crate) fn remember_challenge(&mut self, registry: &str, header: String) {
        self.challenges
            .insert(registry.to_owned(), RememberedChallenge { header });
    }

    pub(crate) fn challenge(&self, registry: &str) -> Option<RememberedChallenge> {
        self.challenges.get(registry).cloned()
    }

    /// Drops every cached token or Basic header equal to `authorization` for `registry`.
    pub(crate) fn reject(&mut self, registry: &str, authorization: &Authorization) {
        self.tokens
            .retain(|t| !(t.registry == registry && t.authorization == *authorization));
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
            "r",
            "s",
            &[push.clone(), other.clone()],
            bearer("wide"),
            now + Duration::from_secs(300),
            now,
        );
        cache.insert_token(
            "r",
            "s",
            std::slice::from_ref(&push),
            bearer("push"),
            now + Duration::from_secs(300),
            now,
        );
        cache.insert_token(
            "r",
            "s",
            std::slice::from_ref(&pull),
            bearer("pull-expiring"),
            now + Duration::from_secs(5),
            now,
        );
        assert_eq!(cache.token_count(), 3);
        assert_eq!(
            cache.lookup("r", std::slice::from_ref(&pull), now, skew),
            Some(bearer("push"))
        );
        assert_eq!(
            cache.lookup("r", &[pull.clone(), other.clone()], now, skew),
            Some(bearer("wide"))
        );
        assert_eq!(
            cache.lookup("other", std::slice::from_ref(&pull), now, skew),
            None
        );
        assert_eq!(
            cache.lookup("r", &[Scope::registry_catalog()], now, skew),
            None
        );
        // Everything expires.
        let later = now + Duration::from_secs(295);
        assert_eq!(
            cache.lookup("r", std::slice::from_ref(&pull), later, skew),
            None
        );
        // Rejecting removes exactly that token.
        cache.reject("r", &bearer("push"));
        assert_eq!(cache.lookup("r", &[pull], now, skew), Some(bearer("wide")));
    }

    #[test]
    fn same_key_replaces() {
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        let mut cache = TokenCache::default();
        let a = Scope::repository("a", &[Action::Pull]);
        cache.insert_token(
            "r",
            "s",
            std::slice::from_ref(&a),
            bearer("1"),
            now + Duration::from_secs(300),
            now,
        );
        cache.insert_token(
            "r",
            "s",
            &[a.clone(), a.clone()],
            bearer("2"),
            now + Duration::from_secs(300),
            now,
        );
        assert_eq!(cache.token_count(), 1);
        assert_eq!(
            cache.lookup("r", &[a], now, Duration::ZERO),
            Some(bearer("2"))
        );
    }
}
