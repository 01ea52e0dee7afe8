//! Filters, orders and keyset page tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::Outcome;
use crate::error::{AuditError, Result};

/// Which records a query matches; every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub action_prefix: Option<String>,
    pub resource: Option<String>,
    pub outcome: Option<Outcome>,
    /// µs, inclusive.
    pub since_us: Option<i64>,
    /// µs, exclusive.
    pub until_us: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// Where the next page starts: after this sequence, in this order, for these filters (a
/// token is refused with other filters or another order, rather than skipping records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageToken {
    pub after: i64,
    pub order: Order,
    pub filters: u64,
}

/// A stable fingerprint of the filters (FNV-1a over their fields, so it does not change
/// between builds or replicas).
pub fn fingerprint(filter: &Filter) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |text: &str| {
        for b in text.bytes().chain([0xff]) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "\u{0}".into());
    eat(&opt(&filter.actor));
    eat(&opt(&filter.action));
    eat(&opt(&filter.action_prefix));
    eat(&opt(&filter.resource));
    eat(filter.outcome.map_or("\u{0}", Outcome::as_str));
    eat(&filter.since_us.map_or("\u{0}".into(), |t| t.to_string()));
    eat(&filter.until_us.map_or("\u{0}".into(), |t| t.to_string()));
    hash
}

impl PageToken {
    pub fn encode(&self) -> String {
        let order = match self.order {
            Order::NewestFirst => "n",
            Order::OldestFirst => "o",
        };
        URL_SAFE_NO_PAD.encode(format!("v1:{order}:{}:{:x}", self.after, self.filters))
    }

    /// The token of a page for `filter` in `order`; `invalid_argument` for anything else.
    pub fn decode(text: &str, filter: &Filter, order: Order) -> Result<Self> {
        let bad = || AuditError::invalid("page_token", "is not a token of this query's pages");
        let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let mut parts = raw.split(':');
        let (Some("v1"), Some(o), Some(after), Some(filters), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        let token = Self {
            after: after.parse().map_err(|_| bad())?,
            order: match o {
                "n" => Order::NewestFirst,
                "o" => Order::OldestFirst,
                _ => return Err(bad()),
            },
            filters: u64::from_str_radix(filters, 16).map_err(|_| bad())?,
        };
        if token.order != order || token.filters != fingerprint(filter) {
            return Err(bad());
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_only_for_its_own_query() {
        let filter = Filter {
            action_prefix: Some("user.".into()),
            ..Filter::default()
        };
        let token = PageToken {
            after: 42,
            order: Order::OldestFirst,
            filters: fingerprint(&filter),
        };
        let text = token.encode();
        assert_eq!(
            PageToken::decode(&text, &filter, Order::OldestFirst),
            Ok(token)
        );
        assert!(PageToken::decode(&text, &filter, Order::NewestFirst).is_err());
        assert!(PageToken::decode(&text, &Filter::default(), Order::OldestFirst).is_err());
        assert!(PageToken::decode("garbage", &filter, Order::OldestFirst).is_err());
    }
}
