"""Servers we did not write, for interop: a WebSocket server on Debian's
python3-websockets and a TCP server with scripted behaviours. Run with
/usr/bin/python3. Prints "listening ws H:P", "listening tcp H:P", "ready".

WebSocket paths: /echo, /close (echo once, then close 1000), /push (on "go":
five "push N" messages then "done"), /silent (never answers), /refuse (403), /stream (on "go": "n 0", "n 1", ...
until the client's close frame; prints "stream sent N closed").
TCP: the first line names the behaviour: echo, split, drip, close, silent;
a WebSocket handshake there gets a peer that drops the connection when our
close frame comes (ws_drop_on_close).

With --tls CERT KEY it also serves the same over TLS: "listening https H:P"
(a minimal keep-alive HTTP/1.1 server answering "hello"), "listening wss
H:P" and "listening tcps H:P".
"""
import asyncio
import http
import sys

import logging

import websockets

# Connections our tests drop on purpose are not worth a traceback each.
logging.getLogger("websockets").setLevel(logging.CRITICAL)


async def ws_handler(ws, path=None):
    path = path or ws.path
    if path == "/echo":
        async for msg in ws:
            await ws.send(msg)
    elif path == "/close":
        msg = await ws.recv()
        await ws.send(msg)
        await ws.close(1000, "done")
    elif path == "/push":
        await ws.recv()
        for i in range(5):
            await ws.send(f"push {i}")
        await ws.send("done")
        async for _ in ws:
            pass
    elif path == "/silent":
        async for _ in ws:
            pass
    elif path == "/stream":
        await stream(ws)


STREAM_CAP = 1_000_000


async def stream(ws):
    """On "go": "n 0", "n 1", ... until the client's close frame arrives (or
    STREAM_CAP messages). A send() that returned wrote its frame before our
    close reply, so the count printed is what the client must receive."""
    await ws.recv()
    sent, why = 0, "cap"
    try:
        while sent < STREAM_CAP:
            await ws.send(f"n {sent}")
            sent += 1
            # Let the reader task see a close frame between two bursts of
            # 50 (the bursts keep many messages in flight when it comes).
            if sent % 50 == 0:
                await asyncio.sleep(0)
    except websockets.ConnectionClosed:
        why = "closed"
    print(f"stream sent {sent} {why}", flush=True)


async def refuse(path, headers):
    if path == "/refuse":
        return http.HTTPStatus.FORBIDDEN, [], b"not here\n"
    return None


async def ws_drop_on_close(reader, writer):
    """A WebSocket peer by hand, on the TCP port (ws://TCP-ADDRESS/drop):
    after the handshake it sends "n 0", "n 1", "n 2", then drops the
    connection as soon as anything comes (our close frame), unanswered."""
    import base64
    import hashlib
    head = await reader.readuntil(b"\r\n\r\n")
    key = next(l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")
               if l.lower().startswith(b"sec-websocket-key:"))
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    for i in range(3):
        payload = f"n {i}".encode()
        writer.write(bytes([0x81, len(payload)]) + payload)
    await writer.drain()
    await reader.read(1)


async def tcp_handler(reader, writer):
    try:
        mode = (await reader.readline()).strip()
        if mode.startswith(b"GET "):
            await ws_drop_on_close(reader, writer)
        elif mode == b"echo":
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        elif mode == b"split":
            for part in (b"ab", b"c|", b"|de", b"f|", b"|"):
                writer.write(part)
                await writer.drain()
                await asyncio.sleep(0.02)
            await reader.read()
        elif mode == b"drip":
            for ch in b"0123456789":
                writer.write(bytes([ch]))
                await writer.drain()
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            writer.write(b"!")
            await writer.drain()
            await reader.read()
        elif mode == b"close":
            writer.write(b"half a rec")
            await writer.drain()
        elif mode == b"silent":
            await reader.read()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def https_handler(reader, writer):
    """Just enough HTTP/1.1: every request gets 200 "hello", keep-alive."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def serve_tls(cert, key):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    # Each handshake says which host name the client sent as SNI (None: none).
    ctx.sni_callback = lambda _sock, name, _ctx: print(f"sni {name}", flush=True)
    https = await asyncio.start_server(https_handler, "127.0.0.1", 0, ssl=ctx)
    wss = await websockets.serve(ws_handler, "127.0.0.1", 0, ssl=ctx, max_size=8 * 2**20)
    tcps = await asyncio.start_server(tcp_handler, "127.0.0.1", 0, ssl=ctx)
    for name, srv in (("https", https), ("wss", wss), ("tcps", tcps)):
        h, p = srv.sockets[0].getsockname()[:2]
        print(f"listening {name} {h}:{p}", flush=True)
    return https, wss, tcps


async def main():
    servers = []
    if len(sys.argv) == 4 and sys.argv[1] == "--tls":
        servers = await serve_tls(sys.argv[2], sys.argv[3])
    ws = await websockets.serve(ws_handler, "127.0.0.1", 0, process_request=refuse,
                                max_size=8 * 2**20)
    tcp = await asyncio.start_server(tcp_handler, "127.0.0.1", 0)
    h, p = ws.sockets[0].getsockname()[:2]
    print(f"listening ws {h}:{p}", flush=True)
    h, p = tcp.sockets[0].getsockname()[:2]
    print(f"listening tcp {h}:{p}", flush=True)
    print("ready", flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
