#!/usr/bin/env python3
"""A fast STS double for scripts/bench-memory.sh: answers AssumeRoleWithWebIdentity at once.

moto answers ~35-70 calls/s on this machine, so filling a cache with 100,000 entries through it
would take 25-50 minutes. This double answers from memory (asyncio, HTTP/1.1 keep-alive) with
credentials shaped like AWS's: AccessKeyId "ASIA" + 16 (20 chars), SecretAccessKey 40 chars,
SessionToken 800 base64 chars (real web-identity tokens are ~700-1,100), Expiration = now +
DurationSeconds (default 3600), a RequestId UUID, and the AssumedRoleUser of the request. It checks
nothing: a benchmark fixture only, loopback only, never a test oracle.

    scripts/sts-double.py PORT_FILE      # listens on 127.0.0.1:<spare port>, writes the port there
"""

import asyncio
import base64
import datetime
import os
import sys
import urllib.parse
import uuid
from xml.sax.saxutils import escape

RESPONSE = """<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\
<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>{akid}</AccessKeyId>\
<SecretAccessKey>{secret}</SecretAccessKey><SessionToken>{token}</SessionToken>\
<Expiration>{expiration}</Expiration></Credentials><SubjectFromWebIdentityToken>{subject}\
</SubjectFromWebIdentityToken><AssumedRoleUser><AssumedRoleId>AROA{role_id}:{session}</AssumedRoleId>\
<Arn>{assumed}</Arn></AssumedRoleUser><PackedPolicySize>6</PackedPolicySize>\
<Audience>sts.amazonaws.com</Audience><Provider>double</Provider>\
</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>{request_id}</RequestId>\
</ResponseMetadata></AssumeRoleWithWebIdentityResponse>"""


def answer(form):
    role_arn = form.get("RoleArn", "arn:aws:iam::111122223333:role/unknown")
    session = form.get("RoleSessionName", "session")
    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else "111122223333"
    role = role_arn.rsplit("/", 1)[-1]
    seconds = int(form.get("DurationSeconds", "3600"))
    expiration = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return RESPONSE.format(
        akid="ASIA" + base64.b32encode(os.urandom(10)).decode()[:16],
        secret=base64.b64encode(os.urandom(30)).decode(),
        token=base64.b64encode(os.urandom(600)).decode(),
        expiration=expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        subject=escape(form.get("RoleSessionName", "subject")),
        role_id=base64.b32encode(os.urandom(10)).decode()[:16],
        session=escape(session),
        assumed=escape(f"arn:aws:sts::{account}:assumed-role/{role}/{session}"),
        request_id=uuid.uuid4(),
    ).encode()


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
            if form.get("Action") == "AssumeRoleWithWebIdentity":
                status, payload = b"200 OK", answer(form)
            else:
                status, payload = b"400 Bad Request", b"<ErrorResponse><Error><Type>Sender</Type>" \
                    b"<Code>InvalidAction</Code><Message>double: unsupported</Message></Error></ErrorResponse>"
            writer.write(b"HTTP/1.1 " + status + b"\r\ncontent-type: text/xml\r\ncontent-length: "
                         + str(len(payload)).encode() + b"\r\n\r\n" + payload)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port_file):
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with open(port_file + ".tmp", "w") as f:
        f.write(f"{port}\n")
    os.replace(port_file + ".tmp", port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1]))
