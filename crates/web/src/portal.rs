//! The portal's front page: what the registry holds, a search over people, and the API's description.
//! (The officer portal with sign-in and enrolment forms comes with its own issue; this page shows a
//! newcomer a living registry.)

use axum::extract::State;
use axum::response::Html;

use crate::AppState;

const PAGE: &str = include_str!("portal.html");

pub async fn home(State(state): State<AppState>) -> Html<String> {
    let (people, villages) = state.registry.counts().await.unwrap_or((0, 0));
    Html(
        PAGE.replace("{{people}}", &people.to_string())
            .replace("{{villages}}", &villages.to_string())
            .replace("{{attribution}}", dspp_service::ATTRIBUTION),
    )
}

const APPROVALS: &str = include_str!("approvals.html");

/// The commune chief's approval queue, made for a phone: pending applications with each line's rules,
/// approve or reject (with a reason) per line, in Khmer or English.
pub async fn approvals() -> Html<&'static str> {
    Html(APPROVALS)
}

const CAPTURE: &str = include_str!("capture.html");

/// The officer's capture page: the camera with live face quality (every check and what to do), saving the face,
/// and both thumbs as templates, images or exceptions, with the duplicate check's answer.
pub async fn capture() -> Html<&'static str> {
    Html(CAPTURE)
}
