"""Servers we did not write, for interop: a WebSocket server on Debian's
python3-websockets and a TCP server with scripted behaviours. Run with
/usr/bin/python3. Prints "listening ws H:P", "listening tcp H:P", "ready".

WebSocket paths: /echo, /close (echo once, then close 1000), /push (on "go":
five "push N" messages then "done"), /silent (never answers), /refuse (403).
TCP: the first line names the behaviour: echo, split, drip, close, silent.
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


async def refuse(path, headers):
    if path == "/refuse":
        return http.HTTPStatus.FORBIDDEN, [], b"not here\n"
    return None


async def tcp_handler(reader, writer):
    try:
        mode = (await reader.readline()).strip()
        if mode == b"echo":
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


async def main():
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
