//! The Connect / gRPC / gRPC-Web adapter: proto in, core call with the verified caller, proto
//! out. Errors are converted once, by `into_connect_error` (in `unary!`).

use std::sync::Arc;

use axum::Router;
use platform_kernel::{caller, unary};

use crate::domain::Item;
use crate::error::Result;
use crate::proto::{self as pb, catalog_service_connect as connect};
use crate::service::CatalogService;

/// The Connect router and the gRPC service of the catalog.
pub fn rpc(
    svc: Arc<CatalogService>,
) -> (
    Router,
    pb::catalog_service_server::CatalogServiceServer<pb::CatalogTonicService>,
) {
    let (router, grpc) = connect::CatalogServiceTonicCompatibleBuilder::new()
        .create_item(unary!(svc, create_item, pb::CreateItemRequest))
        .get_item(unary!(svc, get_item, pb::GetItemRequest))
        .list_items(unary!(svc, list_items, pb::ListItemsRequest))
        .build();
    (router, grpc)
}

fn item(i: Item) -> pb::Item {
    pb::Item {
        id: i.id,
        name: i.name,
        owner_id: i.owner_id,
        created_at_us: i.created_at_us,
    }
}

async fn create_item(
    s: &CatalogService,
    r: pb::CreateItemRequest,
) -> Result<pb::CreateItemResponse> {
    let created = s.create_item(&caller::current(), &r.name).await?;
    Ok(pb::CreateItemResponse {
        item: Some(item(created)),
    })
}

async fn get_item(s: &CatalogService, r: pb::GetItemRequest) -> Result<pb::GetItemResponse> {
    let found = s.get_item(&caller::current(), &r.id).await?;
    Ok(pb::GetItemResponse {
        item: Some(item(found)),
    })
}

async fn list_items(s: &CatalogService, r: pb::ListItemsRequest) -> Result<pb::ListItemsResponse> {
    let (items, next_page_token) = s
        .list_items(&caller::current(), r.page_size, &r.page_token)
        .await?;
    Ok(pb::ListItemsResponse {
        items: items.into_iter().map(item).collect(),
        next_page_token,
    })
}
