"""The committed stubs in liftbridge_nb/_proto/ are exactly what `make proto` generates."""

from __future__ import annotations

import filecmp
from pathlib import Path

from tests.tooling import load_tool

gen_proto = load_tool("gen_proto")


def test_committed_stubs_match_a_fresh_generation(tmp_path: Path) -> None:
    gen_proto.generate(tmp_path)
    names = [*gen_proto.GENERATED, "__init__.py"]
    match, mismatch, errors = filecmp.cmpfiles(tmp_path, gen_proto.DEFAULT_OUT, names, shallow=False)
    assert not mismatch and not errors, f"stale stubs {mismatch + errors}: run `make proto`"
    assert sorted(match) == sorted(names)


def test_service_and_enums_match_the_api_reference() -> None:
    from liftbridge_nb._proto import api_pb2

    service = api_pb2.DESCRIPTOR.services_by_name["API"]
    assert api_pb2.DESCRIPTOR.package == "proto"
    assert service.full_name == "proto.API"
    assert len(service.methods) == 16
    subscribe = service.methods_by_name["Subscribe"]
    assert subscribe.server_streaming and not subscribe.client_streaming
    publish_async = service.methods_by_name["PublishAsync"]
    assert publish_async.server_streaming and publish_async.client_streaming
    assert api_pb2.PublishRequest.DESCRIPTOR.fields_by_name["expectedOffset"].number == 9
    headers = api_pb2.Message.DESCRIPTOR.fields_by_name["headers"].message_type
    assert headers is not None and headers.GetOptions().map_entry
    assert api_pb2.StopPosition.Value("STOP_TIMESTAMP") == 3
    assert api_pb2.Ack.Error.Value("TOO_LARGE") == 3
    assert api_pb2.PublishAsyncError.Code.Value("PERMISSION_DENIED") == 7
