//! (in progress)
#![allow(missing_docs)]
/// Request codes.
pub struct RequestCode;
impl RequestCode {
    pub const HEART_BEAT: i32 = 34;
    pub const GET_ROUTEINFO_BY_TOPIC: i32 = 105;
}
/// Response codes.
pub struct ResponseCode;
impl ResponseCode {
    pub const SUCCESS: i32 = 0;
}
