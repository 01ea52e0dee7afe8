//! VerifyChain: the chain recomputed over a range, resumably.

use platform_audit_chain::{GENESIS, verify_chain};
use platform_kernel::caller::Caller;

use crate::error::{AuditError, Result};

use super::AuditService;

/// What a walk over a range found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCheck {
    pub checked: u64,
    /// The first record that breaks the chain: sequence, id, what is wrong.
    pub broken: Option<(i64, String, String)>,
    /// Where to resume; 0 at the end of the log (or at a break).
    pub next_sequence: i64,
}

const DEFAULT_LIMIT: i64 = 100_000;
const MAX_LIMIT: i64 = 1_000_000;
/// Records read per round trip.
const READ: u32 = 5_000;

impl AuditService {
    pub async fn verify_chain(&self, caller: &Caller, from: i64, limit: i64) -> Result<ChainCheck> {
        self.may_read(caller).await?;
        if from < 0 {
            return Err(AuditError::invalid("from_sequence", "must not be negative"));
        }
        let limit = match limit {
            0 => DEFAULT_LIMIT,
            n if !(1..=MAX_LIMIT).contains(&n) => {
                return Err(AuditError::invalid(
                    "limit",
                    format!("must be between 1 and {MAX_LIMIT}"),
                ));
            }
            n => n,
        };
        let mut next = from.max(1);
        let mut previous = if next == 1 {
            GENESIS.to_owned()
        } else {
            match self.store.hash_of(next - 1).await? {
                Some(hash) => hash,
                None => {
                    return Ok(ChainCheck {
                        checked: 0,
                        broken: Some((
                            next - 1,
                            String::new(),
                            "the record before the range is missing".into(),
                        )),
                        next_sequence: 0,
                    });
                }
            }
        };
        let end = next.saturating_add(limit);
        let mut checked = 0u64;
        while next < end {
            let want = u32::try_from((end - next).min(i64::from(READ))).unwrap_or(READ);
            let records = self.store.range(next, want).await?;
            if records.is_empty() {
                return self.at_the_end(checked, next).await;
            }
            match verify_chain(records.iter(), next, &previous) {
                Ok(verified) => {
                    checked += verified.checked;
                    next = verified.next_sequence;
                    previous = verified.last_hash;
                }
                Err(broken) => {
                    return Ok(ChainCheck {
                        checked: checked + broken.checked,
                        broken: Some((broken.sequence, broken.id, broken.reason)),
                        next_sequence: 0,
                    });
                }
            }
            if records.len() < want as usize {
                return self.at_the_end(checked, next).await;
            }
        }
        Ok(ChainCheck {
            checked,
            broken: None,
            next_sequence: next,
        })
    }
}

impl AuditService {
    /// The chain recomputed from just after `(from, from_hash)` through `to`: the hash at
    /// `to`, or the first broken (or missing) sequence and why. What a checkpoint is signed
    /// on: never a hash the chain does not lead to.
    pub async fn hash_through(
        &self,
        from: i64,
        from_hash: &str,
        to: i64,
    ) -> Result<std::result::Result<String, (i64, String)>> {
        let mut next = from + 1;
        let mut previous = from_hash.to_owned();
        while next <= to {
            let want = u32::try_from((to - next + 1).min(i64::from(READ))).unwrap_or(READ);
            let records = self.store.range(next, want).await?;
            if records.first().is_none_or(|r| r.sequence != next) {
                return Ok(Err((next, "the record is missing".into())));
            }
            match verify_chain(records.iter(), next, &previous) {
                Ok(verified) => {
                    next = verified.next_sequence;
                    previous = verified.last_hash;
                }
                Err(broken) => return Ok(Err((broken.sequence, broken.reason))),
            }
        }
        Ok(Ok(previous))
    }

    /// The records ran out before `next`: intact if the chain's head agrees.
    async fn at_the_end(&self, checked: u64, next: i64) -> Result<ChainCheck> {
        let (head, _) = self.store.head().await?;
        let broken = (head >= next).then(|| {
            (
                next,
                String::new(),
                format!(
                    "the log ends at sequence {} but the chain's head is at {head}: records were deleted from its tail",
                    next - 1
                ),
            )
        });
        Ok(ChainCheck {
            checked,
            broken,
            next_sequence: 0,
        })
    }
}
