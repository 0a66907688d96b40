//! The few messages of Liftbridge's API (`proto/api.proto`) that the data plane decodes itself.
//!
//! Only responses are declared here (a batch's requests are encoded in `request.rs`, the others
//! arrive from Python encoded); tags and types follow `proto/api.proto`.

use std::collections::HashMap;

/// `proto.Message`: one message read from a partition.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    #[prost(int64, tag = "1")]
    pub offset: i64,
    #[prost(bytes = "vec", tag = "2")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub value: Vec<u8>,
    #[prost(int64, tag = "4")]
    pub timestamp: i64,
    #[prost(string, tag = "5")]
    pub stream: String,
    #[prost(int32, tag = "6")]
    pub partition: i32,
    #[prost(string, tag = "7")]
    pub subject: String,
    #[prost(string, tag = "8")]
    pub reply_subject: String,
    #[prost(map = "string, bytes", tag = "9")]
    pub headers: HashMap<String, Vec<u8>>,
}

/// `proto.Ack` (its `ackError` left out: the server sets it on no ack it sends a publisher).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Ack {
    #[prost(string, tag = "1")]
    pub stream: String,
    #[prost(string, tag = "2")]
    pub partition_subject: String,
    #[prost(string, tag = "3")]
    pub msg_subject: String,
    #[prost(int64, tag = "4")]
    pub offset: i64,
    #[prost(string, tag = "5")]
    pub ack_inbox: String,
    #[prost(string, tag = "6")]
    pub correlation_id: String,
    #[prost(int32, tag = "7")]
    pub ack_policy: i32,
    #[prost(int64, tag = "8")]
    pub reception_timestamp: i64,
    #[prost(int64, tag = "9")]
    pub commit_timestamp: i64,
}

/// `proto.PublishResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PublishResponse {
    #[prost(message, optional, tag = "1")]
    pub ack: Option<Ack>,
    #[prost(message, optional, tag = "2")]
    pub async_error: Option<PublishAsyncError>,
    #[prost(string, tag = "3")]
    pub correlation_id: String,
}

impl PublishResponse {
    /// The correlation id it answers: its own, or (older brokers) its ack's.
    pub fn id(&self) -> &str {
        match (&self.ack, self.correlation_id.is_empty()) {
            (Some(ack), true) => &ack.correlation_id,
            _ => &self.correlation_id,
        }
    }

    /// Whether it answers a message to `stream`: a refusal, or that stream's ack (several streams
    /// may listen on one subject, each acking with the message's correlation id).
    pub fn answers(&self, stream: &str) -> bool {
        self.async_error.is_some() || self.ack.as_ref().is_some_and(|a| a.stream == stream)
    }
}

/// `proto.PublishAsyncError`: why the server refused a message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PublishAsyncError {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}
