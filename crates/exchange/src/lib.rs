//! Clients for the national systems dspp talks to: the Ministry of Interior's identity verification
//! service and the program operators that receive approved enrolments.
//!
//! Both are reached either directly or through the national data exchange (CamDX, built on X-Road),
//! using the X-Road Message Protocol for REST r1: see [`Endpoint`]. The clients never retry by themselves;
//! [`ExchangeError::is_retryable`] and [`BackoffPolicy`] tell the caller (the outbox worker) what to do.
//! Plain types in, plain types out: this crate depends on none of ours.

mod backoff;
mod endpoint;
mod error;
mod national_id;
mod operator;
mod transport;

pub use backoff::{BACKOFF_BASE, BACKOFF_CAP, BackoffPolicy, backoff};
pub use endpoint::{
    DEFAULT_TIMEOUT, Endpoint, EndpointSettings, SecretToken, XRoadClientId, XRoadRoute,
    XRoadServiceId,
};
pub use error::ExchangeError;
pub use national_id::{
    FieldCheck, IdStatus, LevelOfAssurance, NationalIdClient, Sex, VERIFY_PATH, VerifyRequest,
    VerifyResponse,
};
pub use operator::{
    DELIVERY_PATH, DELIVERY_PURPOSE, Delivery, DeliveryPerson, OperatorClient, Receipt,
};
pub use transport::{
    HEADER_IDEMPOTENCY_KEY, HEADER_PURPOSE, HEADER_X_ROAD_CLIENT, HEADER_X_ROAD_ERROR,
    HEADER_X_ROAD_ID, HEADER_X_ROAD_ISSUE, HEADER_X_ROAD_REQUEST_ID, HEADER_X_ROAD_USER_ID,
    MessageMeta,
};
