"""gRPC calls with Python grpcio (Google's C-core gRPC, a client nobody here wrote), from the
contracts' descriptor set (no code generation): the channel sends every request gzipped and
accepts gzip answers; the invalid email's google.rpc.BadRequest is read with grpcio-status.
Prints one JSON line per step.

    PYTHONPATH=<grpcio> python3 scripts/interop/grpcio.py <host:port> <descriptor set> <bearer>
"""

import json
import os
import sys
import tempfile

# grpcio keeps grpc-encoding from the application's metadata; its HTTP/2 trace (on stderr)
# shows the headers the server sent. It is read at start-up, so set before grpc is imported.
os.environ["GRPC_TRACE"] = "chttp2_hpack_parser"
os.environ["GRPC_VERBOSITY"] = "debug"

import grpc  # noqa: E402
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # noqa: E402
from google.rpc import error_details_pb2  # noqa: E402
from grpc_status import rpc_status  # noqa: E402

SERVICE = "platform.identity.v1.IdentityService"
PASSWORD = "correct horse battery"


def traced(call):
    """Runs call() with stderr (where grpcio's C core traces) sent to a file; returns its
    result and the trace."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as trace:
        os.dup2(trace.fileno(), 2)
        try:
            result = call()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        trace.seek(0)
        return result, trace.read().decode(errors="replace")


def main():
    target, descriptors, bearer = sys.argv[1:4]
    files = descriptor_pb2.FileDescriptorSet()
    with open(descriptors, "rb") as f:
        files.ParseFromString(f.read())
    # A pool of its own: the set holds google/rpc/error_details.proto too.
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    service = pool.FindServiceByName(SERVICE)

    channel = grpc.insecure_channel(target, compression=grpc.Compression.Gzip)

    def method(name):
        m = service.FindMethodByName(name)
        request = message_factory.GetMessageClass(m.input_type)
        response = message_factory.GetMessageClass(m.output_type)
        call = channel.unary_unary(
            f"/{SERVICE}/{name}",
            request_serializer=request.SerializeToString,
            response_deserializer=response.FromString,
        )
        return request, call

    create_request, create = method("CreateUser")
    created = create(create_request(email="grpcio@example.com", password=PASSWORD), timeout=10)
    print(json.dumps({"step": "create", "email": created.user.email}))

    for n in range(15):
        create(create_request(email=f"grpcio-{n}@example.com", password=PASSWORD), timeout=10)
    list_request, list_users = method("ListUsers")
    (page, _), trace = traced(
        lambda: list_users.with_call(
            list_request(), metadata=[("authorization", bearer)], timeout=10
        )
    )
    # The answer's headers, as the trace shows them: "HDR:CLI: grpc-encoding: gzip".
    encoding = "identity"
    for line in trace.splitlines():
        if "HDR:CLI: grpc-encoding:" in line:
            encoding = line.split("grpc-encoding:", 1)[1].strip()
    print(json.dumps({"step": "list", "users": len(page.users), "encoding": encoding}))

    try:
        create(create_request(email="not-an-email", password=PASSWORD), timeout=10)
        print(json.dumps({"step": "invalid", "error": None}))
    except grpc.RpcError as e:
        fields = []
        status = rpc_status.from_call(e)
        for detail in status.details if status else []:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                fields.extend(v.field for v in bad.field_violations)
        print(
            json.dumps(
                {
                    "step": "invalid",
                    "code": e.code().name,
                    "message": e.details(),
                    "fields": fields,
                }
            )
        )


if __name__ == "__main__":
    main()
