#!/usr/bin/python3
"""One-off unary gRPC calls for the bench "grpc" stage (bench/run.sh), before its load runs.

    /usr/bin/python3 bench/grpc_check.py HOST:PORT BODY_FILE N

BODY_FILE is h2load's request body: one gRPC length-prefixed message (flag 0, 4-byte big-endian
length, the message). Makes N unary calls of /bench.Echo/Echo with that message through grpcio (Debian
python3-grpcio), one after the other, each bounded by 5 s; a call passes when it ends with status OK
(grpc-status 0 in the trailers) and its response message is the request's (the backend echoes).
Prints "PASSED N" and exits 0 when all pass, else prints the first failure and exits 1.
"""
import struct
import sys

import grpc


def main():
    target, body_file, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    body = open(body_file, "rb").read()
    flag, length = struct.unpack(">BI", body[:5])
    if flag != 0 or length != len(body) - 5:
        sys.exit(f"{body_file}: not one uncompressed length-prefixed message")
    message = body[5:]
    with grpc.insecure_channel(target) as channel:
        # Bytes in, bytes out: no generated stubs, the message is sent as it is in the file.
        echo = channel.unary_unary("/bench.Echo/Echo")
        passed = 0
        for i in range(n):
            try:
                reply = echo(message, timeout=5)
            except grpc.RpcError as e:
                print(f"call {i + 1}: {e.code().name}: {e.details()}")
                return 1
            if reply != message:
                print(f"call {i + 1}: status OK but the reply differs ({len(reply)} bytes)")
                return 1
            passed += 1
    print(f"PASSED {passed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
