// Calls with @connectrpc/connect-node (a client nobody here wrote), from the contracts'
// descriptor set (no code generation), over one protocol: Connect (HTTP/1.1), gRPC (HTTP/2)
// or gRPC-Web (HTTP/1.1). Every request is sent gzipped and gzip answers are accepted; the
// invalid email's google.rpc.BadRequest is read with findDetails. Prints one JSON line per
// step; "encoding" is the answer's content-encoding (Connect) or grpc-encoding (gRPC).
//
//   NODE_PATH=<node_modules> node scripts/interop/connect-node.cjs <base URL> <descriptor set> <bearer> [connect|grpc|grpcweb]
"use strict";
const fs = require("node:fs");
const { createFileRegistry, fromBinary } = require("@bufbuild/protobuf");
const { FileDescriptorSetSchema } = require("@bufbuild/protobuf/wkt");
const { createClient, ConnectError } = require("@connectrpc/connect");
const {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  compressionGzip,
} = require("@connectrpc/connect-node");

async function main() {
  const [baseUrl, descriptors, bearer, protocol = "connect"] = process.argv.slice(2);
  const registry = createFileRegistry(
    fromBinary(FileDescriptorSetSchema, fs.readFileSync(descriptors)),
  );
  const service = registry.getService("platform.identity.v1.IdentityService");
  const badRequest = registry.getMessage("google.rpc.BadRequest");
  const encodings = [];
  const encodingHeader = protocol === "connect" ? "content-encoding" : "grpc-encoding";
  const options = {
    baseUrl,
    sendCompression: compressionGzip,
    acceptCompression: [compressionGzip],
    compressMinBytes: 0,
    interceptors: [
      (next) => async (req) => {
        const res = await next(req);
        encodings.push(res.header.get(encodingHeader) || "identity");
        return res;
      },
    ],
  };
  const transport =
    protocol === "grpc"
      ? createGrpcTransport({ ...options, httpVersion: "2" })
      : protocol === "grpcweb"
        ? createGrpcWebTransport({ ...options, httpVersion: "1.1" })
        : createConnectTransport({ ...options, httpVersion: "1.1" });
  const client = createClient(service, transport);
  const password = "correct horse battery";

  const created = await client.createUser({ email: `node-${protocol}@example.com`, password });
  console.log(JSON.stringify({ step: "create", email: created.user.email }));

  for (let n = 0; n < 15; n++) {
    await client.createUser({ email: `node-${protocol}-${n}@example.com`, password });
  }
  const page = await client.listUsers({}, { headers: { authorization: bearer } });
  console.log(
    JSON.stringify({ step: "list", users: page.users.length, encoding: encodings[encodings.length - 1] }),
  );

  try {
    await client.createUser({ email: "not-an-email", password });
    console.log(JSON.stringify({ step: "invalid", error: null }));
  } catch (e) {
    const err = ConnectError.from(e);
    const details = err.findDetails(badRequest);
    console.log(
      JSON.stringify({
        step: "invalid",
        code: err.code,
        message: err.rawMessage,
        fields: details.flatMap((d) => d.fieldViolations.map((v) => v.field)),
      }),
    );
  }
}

main().catch((e) => {
  console.error(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
