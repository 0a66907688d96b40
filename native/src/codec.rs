//! A gRPC codec that sends requests as the bytes Python encoded, and decodes responses either with
//! prost (what the native side reads itself) or not at all (bytes that Python decodes).

use std::marker::PhantomData;

use bytes::{Buf, BufMut};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// What a response is made into.
pub trait FromWire: Sized + Send + 'static {
    fn from_wire(src: &mut DecodeBuf<'_>) -> Result<Self, Status>;
}

impl FromWire for crate::proto::Message {
    fn from_wire(src: &mut DecodeBuf<'_>) -> Result<Self, Status> {
        prost::Message::decode(src)
            .map_err(|e| Status::internal(format!("undecodable message: {e}")))
    }
}

/// The encoded response itself.
impl FromWire for Vec<u8> {
    fn from_wire(src: &mut DecodeBuf<'_>) -> Result<Self, Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(out)
    }
}

/// Requests are `Vec<u8>` (an encoded protobuf), responses a `T`.
pub struct RawCodec<T>(PhantomData<T>);

impl<T> Default for RawCodec<T> {
    fn default() -> Self {
        RawCodec(PhantomData)
    }
}

impl<T: FromWire> Codec for RawCodec<T> {
    type Encode = Vec<u8>;
    type Decode = T;
    type Encoder = RawEncoder;
    type Decoder = WireDecoder<T>;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> WireDecoder<T> {
        WireDecoder(PhantomData)
    }
}

pub struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

pub struct WireDecoder<T>(PhantomData<T>);

impl<T: FromWire> Decoder for WireDecoder<T> {
    type Item = T;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<T>, Status> {
        T::from_wire(src).map(Some)
    }
}
