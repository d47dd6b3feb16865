//! /api/v1/places: the gazetteer (public data).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::json_with_etag;
use crate::AppState;
use crate::dto::{PlaceOut, PlacesOut};
use crate::extract::ActingAs;
use crate::problem::{ApiError, Problem};

/// The provinces.
#[utoipa::path(get, path = "/api/v1/places", tag = "places", responses((status = 200, body = PlacesOut)))]
pub async fn provinces(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
) -> Result<Response, ApiError> {
    let (_, children) = state.registry.places(&actor, None).await?;
    let out = PlacesOut {
        place: None,
        children: children.iter().map(PlaceOut::from).collect(),
        attribution: dspp_service::ATTRIBUTION,
    };
    Ok(json_with_etag(StatusCode::OK, &out, None, None))
}

/// A place (province, district, commune or village) and the places directly under it.
#[utoipa::path(get, path = "/api/v1/places/{code}", tag = "places", params(("code" = String, Path)),
    responses((status = 200, body = PlacesOut), (status = 404, body = Problem)))]
pub async fn place(
    State(state): State<AppState>,
    ActingAs(actor): ActingAs,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let (place, children) = state.registry.places(&actor, Some(&code)).await?;
    let out = PlacesOut {
        place: place.as_ref().map(PlaceOut::from),
        children: children.iter().map(PlaceOut::from).collect(),
        attribution: dspp_service::ATTRIBUTION,
    };
    Ok(json_with_etag(StatusCode::OK, &out, None, None))
}
