//! The core without a network: who may call what, bad input named, pages that neither skip
//! nor repeat.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use platform_kernel::caller::Caller;
use platform_kernel::clock::SystemClock;

use super::{CatalogService, Ports};
use crate::domain::Item;
use crate::error::{CatalogError, Result};
use crate::ports::{ItemStore, Permissions};

#[derive(Default)]
struct Memory(Mutex<BTreeMap<String, Item>>);

#[async_trait::async_trait]
impl ItemStore for Memory {
    async fn insert(&self, item: &Item) -> Result<()> {
        self.0
            .lock()
            .expect("lock")
            .insert(item.id.clone(), item.clone());
        Ok(())
    }
    async fn get(&self, id: &str) -> Result<Option<Item>> {
        Ok(self.0.lock().expect("lock").get(id).cloned())
    }
    async fn list(&self, before: Option<&str>, limit: u32) -> Result<Vec<Item>> {
        let items = self.0.lock().expect("lock");
        Ok(items
            .values()
            .rev()
            .filter(|i| before.is_none_or(|b| i.id.as_str() < b))
            .take(limit as usize)
            .cloned()
            .collect())
    }
}

/// `user` holds exactly `held`.
struct Held(&'static str, &'static [&'static str]);

#[async_trait::async_trait]
impl Permissions for Held {
    async fn allowed(&self, user: &str, permission: &str) -> Result<bool> {
        Ok(user == self.0 && self.1.contains(&permission))
    }
}

fn service(held: &'static [&'static str]) -> CatalogService {
    CatalogService::new(Ports {
        store: Arc::new(Memory::default()),
        permissions: Arc::new(Held("ann", held)),
        clock: Arc::new(SystemClock),
    })
}

#[tokio::test]
async fn who_may_call_what() {
    let s = service(&["catalog.items.read", "catalog.items.write"]);
    let ann = Caller::user("ann");
    let created = s.create_item(&ann, "a lamp").await.expect("ann may write");
    assert_eq!(created.owner_id, "ann");
    let s = CatalogService {
        permissions: Arc::new(Held("ann", &["catalog.items.read"])),
        ..s
    };
    // Ann reads, but may no longer write; Bob may do neither; a service not listed in
    // SERVICE_CALLERS may do nothing; nobody unverified may do anything.
    assert_eq!(s.get_item(&ann, &created.id).await.expect("read"), created);
    let identity = s.list_items(&Caller::service("identity"), 0, "").await;
    assert!(
        matches!(identity, Err(CatalogError::PermissionDenied(ref m)) if m.contains("service identity")),
        "{identity:?}"
    );
    for refused in [
        s.create_item(&ann, "a chair").await.map(|_| ()),
        s.get_item(&Caller::user("bob"), &created.id)
            .await
            .map(|_| ()),
        s.list_items(&Caller::user("bob"), 0, "").await.map(|_| ()),
    ] {
        assert!(
            matches!(refused, Err(CatalogError::PermissionDenied(ref m)) if m.contains("catalog.items.")),
            "{refused:?}"
        );
    }
    let anonymous = s.list_items(&Caller::Anonymous, 0, "").await;
    assert!(
        matches!(anonymous, Err(CatalogError::Unauthenticated(_))),
        "{anonymous:?}"
    );
}

#[tokio::test]
async fn bad_input_is_named() {
    let s = service(&["catalog.items.read", "catalog.items.write"]);
    let ann = Caller::user("ann");
    let long = "x".repeat(201);
    for name in ["", "a\u{7}b", long.as_str()] {
        let refused = s.create_item(&ann, name).await;
        assert!(
            matches!(
                refused,
                Err(CatalogError::InvalidArgument { field: "name", .. })
            ),
            "{refused:?}"
        );
    }
    let refused = s.get_item(&ann, "nope").await;
    assert!(
        matches!(
            refused,
            Err(CatalogError::InvalidArgument { field: "id", .. })
        ),
        "{refused:?}"
    );
    let missing = s.get_item(&ann, &uuid::Uuid::now_v7().to_string()).await;
    assert!(
        matches!(missing, Err(CatalogError::NotFound(_))),
        "{missing:?}"
    );
    let refused = s.list_items(&ann, 101, "").await;
    assert!(
        matches!(
            refused,
            Err(CatalogError::InvalidArgument {
                field: "page_size",
                ..
            })
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn pages_newest_first_neither_skip_nor_repeat() {
    let s = service(&["catalog.items.read", "catalog.items.write"]);
    let ann = Caller::user("ann");
    for n in 0..25 {
        s.create_item(&ann, &format!("item {n}"))
            .await
            .expect("created");
    }
    let (mut seen, mut token, mut pages) = (Vec::new(), String::new(), 0);
    loop {
        let (items, next) = s.list_items(&ann, 10, &token).await.expect("page");
        seen.extend(items.into_iter().map(|i| i.name));
        pages += 1;
        if next.is_empty() {
            break;
        }
        token = next;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 25);
    assert_eq!(seen.first().map(String::as_str), Some("item 24"));
}
