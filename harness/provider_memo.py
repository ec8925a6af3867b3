"""The AWS provider in debug mode behind a gRPC pass-through that remembers its two answers that never change.

``python -m harness.provider_memo PROVIDER MEMO_DIR`` starts the provider with ``-debug``, reads the address it
prints, serves gRPC on a socket of its own that forwards every call to the provider byte for byte, and prints the
``TF_REATTACH_PROVIDERS`` line that points Terraform at that socket (the line the provider prints, with the
address changed). It ends the provider, and itself, when its standard input closes (the harness stopped it, or
died) or it gets SIGTERM; the provider also gets stopped if this process dies in any other way. The provider is
stopped with SIGINT, the signal its debug mode handles: it closes its listener, which removes the Unix socket it
made in the temporary folder (``/tmp/plugin…``). SIGTERM ends it at once and leaves that socket behind.

Two of the provider's answers are remembered and given again for the same request bytes:
- ``GetSchema`` (protocol 6: ``GetProviderSchema``): every resource's and data source's schema, about 5 MB
  (0.5 CPU-s to build);
- ``PrepareProviderConfig`` (``ValidateProviderConfig``): the provider block validated. The plugin SDK first checks
  the internal structure of all its roughly 1,500 resources (``Provider.InternalValidate``): about 1.8 CPU-s and
  1.8 s on this machine, in every plan and refresh and twice in every apply and destroy.
Both are functions of the provider binary and the request alone: no state, no network. The first answer to a
request comes from the provider itself, and every other call goes to it as it comes. It is not a stand-in: the
real provider answers everything; the memo spares it computing the same answer again. Answers are also kept in
MEMO_DIR (the working copy's ``.terraform/provider-memo``), under the binary's identity and the request, so a
later run on a kept working copy (``--reuse``) finds them.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from concurrent import futures
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import grpc

from harness.process import PROVIDER_STOP_SIGNAL
from harness.provider_server import REATTACH_ENV, reattach_value

MEMOIZED = frozenset({"/tfplugin5.Provider/GetSchema", "/tfplugin5.Provider/PrepareProviderConfig",
                      "/tfplugin6.Provider/GetProviderSchema", "/tfplugin6.Provider/ValidateProviderConfig"})
# Terraform and the provider lift gRPC's 4 MB message limit (the schema is larger); so does the memo.
UNLIMITED = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
PR_SET_PDEATHSIG = 1


def reattach_line(value: str) -> str:
    """The line the provider prints in debug mode, for ``value`` (what harness.provider_server reads)."""
    return f"\t{REATTACH_ENV}='{value}'\n"


def read_reattach(stream: Any) -> Optional[str]:
    """The ``TF_REATTACH_PROVIDERS`` value from the provider's output, or None when the output ends first."""
    for raw in stream:
        try:
            value = reattach_value(raw.decode(errors="replace"))
        except ValueError:
            continue
        if value:
            return value
    return None


def grpc_target(address: dict[str, str]) -> str:
    """A go-plugin address (``{"Network": "unix", "String": path}``) as a gRPC target."""
    return f"unix:{address['String']}" if address["Network"] == "unix" else address["String"]


def binary_identity(binary: Path) -> str:
    """The provider binary as a memo key: its resolved path, size and modification time (not its 700 MB digest)."""
    resolved = binary.resolve()
    stat = resolved.stat()
    return f"{resolved}:{stat.st_size}:{stat.st_mtime_ns}"


class Memo:
    """Answers kept in memory and in a folder, under the provider binary's identity, the method and the request."""

    def __init__(self, folder: Optional[Path], identity: str):
        self._folder = folder
        self._identity = identity
        self._answers: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def _key(self, method: str, request: bytes) -> str:
        return hashlib.sha256(f"{self._identity}\0{method}\0".encode() + request).hexdigest()

    def get(self, method: str, request: bytes) -> Optional[bytes]:
        """The kept answer to ``request``, or None."""
        key = self._key(method, request)
        with self._lock:
            if key in self._answers:
                return self._answers[key]
        if self._folder is not None:
            try:
                answer = (self._folder / key).read_bytes()
            except OSError:
                return None
            with self._lock:
                self._answers[key] = answer
            return answer
        return None

    def put(self, method: str, request: bytes, answer: bytes) -> None:
        """Keep ``answer`` (written to a temporary name, then renamed: a reader never sees half of it)."""
        key = self._key(method, request)
        with self._lock:
            self._answers[key] = answer
        if self._folder is not None:
            try:
                self._folder.mkdir(parents=True, exist_ok=True)
                partial = self._folder / f".{key}.{uuid.uuid4().hex}"
                partial.write_bytes(answer)
                partial.replace(self._folder / key)
            except OSError:
                pass  # kept in memory; the folder is only for later runs


class MemoHandler(grpc.GenericRpcHandler):
    """Every method forwarded to ``channel`` as raw bytes; the MEMOIZED ones answered from ``memo`` when it has them."""

    def __init__(self, channel: grpc.Channel, memo: Memo):
        self._channel = channel
        self._memo = memo

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        if method in MEMOIZED:
            return grpc.unary_unary_rpc_method_handler(self._remembered(method))
        upstream = self._channel.stream_stream(method)

        def forward(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
            call = upstream(requests, metadata=context.invocation_metadata())
            context.add_callback(call.cancel)
            try:
                yield from call
            except grpc.RpcError as error:
                context.abort(error.code(), error.details() or "")
        # On the wire a unary call is a stream of one message each way: one handler serves every kind of call.
        return grpc.stream_stream_rpc_method_handler(forward)

    def _remembered(self, method: str) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        upstream = self._channel.unary_unary(method)

        def answer(request: bytes, context: grpc.ServicerContext) -> bytes:
            kept = self._memo.get(method, request)
            if kept is not None:
                return kept
            try:
                response = upstream(request, metadata=context.invocation_metadata())
            except grpc.RpcError as error:
                context.abort(error.code(), error.details() or "")
            self._memo.put(method, request, response)
            return response
        return answer


def start_memo_server(target: str, memo: Memo) -> tuple[grpc.Server, str]:
    """A gRPC server forwarding to ``target`` through ``memo``, on a fresh abstract Unix socket; (server, its name).

    An abstract socket (a name, not a file) goes when the process goes, however it ends.
    """
    name = f"harness-provider-memo-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    channel = grpc.insecure_channel(target, options=UNLIMITED)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64), handlers=[MemoHandler(channel, memo)],
                         options=UNLIMITED)
    server.add_insecure_port(f"unix-abstract:{name}")
    server.start()
    return server, name


STOP_SIGNAL = PROVIDER_STOP_SIGNAL  # see harness/process.py


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, STOP_SIGNAL)


def serve(binary: Path, memo_folder: Optional[Path]) -> int:
    """Run the provider and the memo in front of it until stdin closes or SIGTERM; 1 when the provider fails."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    provider = subprocess.Popen([str(binary), "-debug"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                preexec_fn=_die_with_parent)
    server: Optional[grpc.Server] = None
    try:
        assert provider.stdout is not None
        value = read_reattach(provider.stdout)
        if value is None:
            return 1
        # Keep reading what the provider prints, so that it never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in provider.stdout], daemon=True).start()
        (name, entry), = json.loads(value).items()
        server, socket_name = start_memo_server(grpc_target(entry["Addr"]), Memo(memo_folder, binary_identity(binary)))
        # Go's net package dials a Unix socket name that starts with "@" in the abstract namespace.
        entry["Addr"] = {"Network": "unix", "String": f"@{socket_name}"}
        sys.stdout.write(reattach_line(json.dumps({name: entry})))
        sys.stdout.flush()
        threading.Thread(target=lambda: (sys.stdin.buffer.read(), stop.set()), daemon=True).start()
        while not stop.wait(1.0) and provider.poll() is None:
            pass
        return 0
    finally:
        if server is not None:
            server.stop(0)
        if provider.poll() is None:
            provider.send_signal(STOP_SIGNAL)
            try:
                provider.wait(timeout=10)
            except subprocess.TimeoutExpired:
                provider.kill()
                provider.wait()


if __name__ == "__main__":
    sys.exit(serve(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None))
