#!/usr/bin/env python3
"""Writes gateway/openapi.json and api/openapi.json, the OpenAPI 3.0 documents both binaries
serve at /openapi.json. Edit this file, run it, commit both outputs; the integration tests
check that every route is described, and schemathesis checks the servers against them."""
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STATUS_TEXT = {400: "Invalid request", 401: "Missing or invalid credentials", 402: "Insufficient balance",
               403: "Forbidden", 404: "Not found", 405: "Method not allowed", 409: "Conflict",
               413: "Body too large", 415: "Unsupported media type", 422: "Unprocessable",
               429: "Rate limited", 500: "Unexpected error", 503: "Unavailable, retry shortly"}


def problem(status, codes=None):
    """The shared problem response of `status`, or the same response described with the
    problem codes this operation answers with."""
    if not codes:
        return {"$ref": f"#/components/responses/P{status}"}
    resp = problem_response(status)
    resp["description"] = f"{STATUS_TEXT[status]}: {codes}"
    return resp


def problem_response(status):
    resp = {"description": STATUS_TEXT[status],
            "content": {"application/problem+json": {"schema": ref("Problem")}}}
    if status in (429, 503):
        resp["headers"] = {"Retry-After": {"schema": {"type": "integer", "minimum": 0}, "description": "seconds"}}
    return resp


COMMON = {400: "INVALID_BODY, MALFORMED_JSON, INVALID_PATH", 413: "BODY_TOO_LARGE",
          415: "UNSUPPORTED_MEDIA_TYPE", 500: "INTERNAL_ERROR"}
UNAVAILABLE = "SERVICE_UNAVAILABLE (a dependency unreachable, see /health/ready), OVERLOADED (past MAX_IN_FLIGHT), TIMEOUT"
SHED = "OVERLOADED (past MAX_IN_FLIGHT), TIMEOUT"


def errors(*statuses, deps=True):
    """Problem responses: each of `statuses` is a status or (status, "CODE, CODE"); 500 always,
    503 always (load shedding and the request timeout apply to every route; `deps` adds
    SERVICE_UNAVAILABLE for operations that use Redis or Postgres)."""
    out = {}
    for s in statuses:
        status, codes = s if isinstance(s, tuple) else (s, COMMON.get(s))
        out[str(status)] = problem(status, codes)
    out["500"] = problem(500)
    out["503"] = problem(503, UNAVAILABLE if deps else SHED)
    return out


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema, description="OK"):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def request(schema):
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def obj(props, required=None, extra=False):
    o = {"type": "object", "properties": props, "required": required if required is not None else list(props)}
    if not extra:
        o["additionalProperties"] = False
    return o


INT64 = {"type": "integer", "format": "int64"}
ID = {"type": "integer", "format": "int64", "minimum": 1}
COUNT = {"type": "integer", "format": "int64", "minimum": 0}
TIME = {"type": "string", "format": "date-time"}
UUID = {"type": "string", "format": "uuid"}


def path_param(name, schema, description):
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def common_components():
    responses = {f"P{s}": problem_response(s) for s in STATUS_TEXT}
    schemas = {
        "Problem": {"type": "object", "required": ["type", "title", "status", "detail", "code"], "properties": {
            "type": {"type": "string"}, "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "code": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$", "description": "stable UPPER_SNAKE name"}}},
        "Ready": {"type": "object", "required": ["status", "checks"], "properties": {
            "status": {"type": "string", "enum": ["ready", "unavailable"]},
            "checks": {"type": "object", "additionalProperties": {"type": "string", "enum": ["up", "down"]}}}},
    }
    return responses, schemas


def system_paths(dependencies):
    not_ready = {"description": f"{dependencies} unreachable (a Ready report), or shed: {SHED} (a problem)",
                 "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 0}, "description": "seconds"}},
                 "content": {"application/json": {"schema": ref("Ready")},
                             "application/problem+json": {"schema": ref("Problem")}}}
    return {
        "/health/live": {"get": {"summary": "The process is up", "tags": ["system"], "responses": {
            "200": json_body(obj({"status": {"type": "string", "enum": ["ok"]}})), **errors(deps=False)}}},
        "/health/ready": {"get": {"summary": f"{dependencies} reachable", "tags": ["system"], "responses": {
            "200": json_body(ref("Ready")), "503": not_ready, "500": problem(500)}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "tags": ["system"], "responses": {
            "200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}},
            **errors(deps=False)}}},
        "/openapi.json": {"get": {"summary": "This document", "tags": ["system"],
                                  "responses": {"200": json_body({"type": "object"}), **errors(deps=False)}}},
    }


def document(title, description, paths, schemas, security):
    responses, common = common_components()
    common.update(schemas)
    return {"openapi": "3.0.3", "info": {"title": title, "version": "1.0.0", "description": description},
            "paths": paths, "components": {"schemas": common, "responses": responses, "securitySchemes": security}}


def gateway():
    concert = path_param("concertId", ID, "concert id")
    standing = {
        "status": {"type": "string", "enum": ["WAITING", "ACTIVE", "EXPIRED"]},
        "position": {**COUNT, "description": "1 = next to be admitted; 0 when ACTIVE or EXPIRED"},
        "estimatedWaitSeconds": COUNT, "pollAfterMs": COUNT,
        "paused": {"type": "boolean", "description": "admission of this concert is paused"},
        "accessToken": {"type": "string", "description": "EdDSA JWT for the api, only when ACTIVE"},
        "accessTokenExpiresAt": {**TIME, "description": "the session expiry, only when ACTIVE"},
    }
    standing_required = ["status", "position", "estimatedWaitSeconds", "pollAfterMs", "paused"]
    queue_status = obj(standing, required=standing_required)
    joined = obj({"queueToken": {"type": "string", "minLength": 1,
                                 "description": "opaque; send it as `Authorization: Bearer` to status and leave"},
                  **standing}, required=["queueToken", *standing_required])
    settings = obj({
        "admitPerTick": {"type": "integer", "minimum": 1, "maximum": 100000},
        "tickMillis": {"type": "integer", "minimum": 10, "maximum": 60000},
        "maxActive": {"type": "integer", "minimum": 1, "maximum": 10000000},
        "sessionTtlSeconds": {"type": "integer", "minimum": 1, "maximum": 86400},
        "paused": {"type": "boolean"}})
    html = {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
    queue_token_401 = (401, "INVALID_QUEUE_TOKEN")
    admin_401 = (401, "UNAUTHORIZED")
    paths = {
        "/api/v1/queue/tokens": {
            "post": {"summary": "Join a concert's waiting queue", "tags": ["queue"], "security": [],
                     "requestBody": request(obj({
                         "userId": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                         "concertId": ID})),
                     "responses": {"201": json_body(ref("QueueTicket"), "A new place in line"),
                                   "200": json_body(ref("QueueTicket"),
                                                    "The place (or active session, with its access token) "
                                                    "the user already has"),
                                   **errors((400, "INVALID_USER_ID, INVALID_BODY, MALFORMED_JSON"),
                                            (404, "CONCERT_NOT_FOUND"), 413, 415, (429, "RATE_LIMITED"))}},
            "delete": {"summary": "Give up the place or end the session", "tags": ["queue"],
                       "security": [{"queueToken": []}],
                       "responses": {"204": {"description": "Given up"}, **errors(queue_token_401)}}},
        "/api/v1/queue/status": {"get": {
            "summary": "Where a queue token stands", "tags": ["queue"], "security": [{"queueToken": []}],
            "responses": {"200": json_body(ref("QueueStatus")), **errors(queue_token_401)}}},
        "/api/v1/queue/concerts": {"get": {
            "summary": "Open concerts (for the index page)", "tags": ["queue"], "security": [],
            "responses": {"200": json_body(obj({"concerts": {"type": "array", "items": obj({
                "concertId": INT64, "name": {"type": "string"}, "paused": {"type": "boolean"},
                "waiting": COUNT, "active": COUNT})}})), **errors()}}},
        "/api/v1/queue/{concertId}/stats": {"get": {
            "summary": "Queue numbers", "tags": ["queue"], "security": [], "parameters": [concert],
            "responses": {"200": json_body(obj({
                "concertId": INT64, "waiting": COUNT, "active": COUNT,
                "admittedPerMinute": {"type": "number", "minimum": 0,
                                      "description": "measured (smoothed), not configured"},
                "estimatedWaitSecondsAtBack": COUNT, "paused": {"type": "boolean"}})),
                **errors((400, "INVALID_PATH"), (404, "CONCERT_NOT_FOUND"))}}},
        "/api/v1/admin/queues/{concertId}": {"put": {
            "summary": "Change a queue's settings at run time (from the next tick on)", "tags": ["admin"],
            "parameters": [concert], "security": [{"adminToken": []}], "requestBody": request(ref("QueueSettings")),
            "responses": {"200": json_body(ref("QueueSettings")),
                          **errors((400, "INVALID_SETTINGS, INVALID_BODY, MALFORMED_JSON, INVALID_PATH"),
                                   admin_401, (404, "CONCERT_NOT_FOUND"), 413, 415)}}},
        "/.well-known/jwks.json": {"get": {
            "summary": "Public keys of access tokens (the signing key first, then any further published keys)",
            "tags": ["tokens"], "security": [],
            "responses": {"200": json_body(obj({"keys": {"type": "array", "minItems": 1, "items": obj({
                "kty": {"type": "string", "enum": ["OKP"]}, "crv": {"type": "string", "enum": ["Ed25519"]},
                "x": {"type": "string"}, "kid": {"type": "string"}, "alg": {"type": "string", "enum": ["EdDSA"]},
                "use": {"type": "string", "enum": ["sig"]}})}})), **errors(deps=False)}}},
        "/config.json": {"get": {"summary": "Where the pages find the api", "tags": ["pages"], "security": [],
                                 "responses": {"200": json_body(obj({"apiBaseUrl": {"type": "string"}})),
                                               **errors(deps=False)}}},
        "/": {"get": {"summary": "Open concerts page", "tags": ["pages"], "security": [],
                      "responses": {"200": html, **errors(deps=False)}}},
        "/waiting-room/{concertId}": {"get": {
            "summary": "Waiting room and booking page", "tags": ["pages"], "security": [], "parameters": [concert],
            "responses": {"200": html, **errors((400, "INVALID_PATH"), deps=False)}}},
        "/assets/{name}": {"get": {
            "summary": "Scripts and styles of the pages", "tags": ["pages"], "security": [],
            "parameters": [path_param("name", {"type": "string", "enum": ["app.css", "i18n.js", "index.js", "room.js"]},
                                      "file name")],
            "responses": {"200": {"description": "The file", "content": {
                "text/css": {"schema": {"type": "string"}}, "text/javascript": {"schema": {"type": "string"}}}},
                **errors((404, "NOT_FOUND"), deps=False)}}},
        **system_paths("Redis"),
    }
    for p in paths.values():
        for op in p.values():
            op.setdefault("security", [])
    schemas = {"QueueTicket": joined, "QueueStatus": queue_status, "QueueSettings": settings}
    security = {"queueToken": {"type": "http", "scheme": "bearer", "description": "the queueToken from joining"},
                "adminToken": {"type": "http", "scheme": "bearer", "description": "ADMIN_TOKEN"}}
    return document("Ticketing gateway", "The waiting room: queue, admission and access tokens.", paths, schemas, security)


def api():
    concert = path_param("concertId", ID, "concert id")
    schedule = path_param("scheduleId", ID, "schedule id")
    reservation = path_param("reservationId", UUID, "reservation id")
    seat = obj({"seatId": INT64, "seatNumber": {"type": "integer"}, "price": COUNT})

    def reservation_schema(statuses, confirmed_at):
        props = {"reservationId": UUID, "status": {"type": "string", "enum": statuses},
                 "scheduleId": INT64, "seats": {"type": "array", "items": seat}, "totalPrice": COUNT,
                 "expiresAt": {**TIME, "description": "when the hold lapses (or lapsed)"}}
        if confirmed_at:
            props["confirmedAt"] = {**TIME, "description": "only when CONFIRMED"}
        return obj(props, required=["reservationId", "status", "scheduleId", "seats", "totalPrice", "expiresAt"])

    idem = {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                                                                  "pattern": "^[!-~]+$"}}
    booking = [{"accessToken": []}]
    token_401 = (401, "INVALID_ACCESS_TOKEN")
    session_403 = (403, "SESSION_NOT_ACTIVE, WRONG_CONCERT")
    paths = {
        "/api/v1/concerts/{concertId}/schedules": {"get": {
            "summary": "Bookable schedules", "tags": ["booking"], "security": booking, "parameters": [concert],
            "responses": {"200": json_body(obj({"concertId": INT64, "schedules": {"type": "array", "items": obj({
                "scheduleId": INT64, "startsAt": TIME, "totalSeats": COUNT, "availableSeats": COUNT})}})),
                **errors((400, "INVALID_PATH"), token_401, session_403, (404, "CONCERT_NOT_FOUND"))}}},
        "/api/v1/concerts/{concertId}/schedules/{scheduleId}/seats": {"get": {
            "summary": "Seat map", "tags": ["booking"], "security": booking, "parameters": [concert, schedule],
            "responses": {"200": json_body(obj({"scheduleId": INT64, "seats": {"type": "array", "items": obj({
                "seatId": INT64, "seatNumber": {"type": "integer"}, "price": COUNT,
                "status": {"type": "string", "enum": ["AVAILABLE", "HELD", "SOLD"]},
                "mine": {"type": "boolean", "description": "held by the caller's own hold"}})}})),
                **errors((400, "INVALID_PATH"), token_401, session_403, (404, "SCHEDULE_NOT_FOUND"))}}},
        "/api/v1/reservations": {"post": {
            "summary": "Hold seats, all or none", "tags": ["booking"], "security": booking,
            "requestBody": request(obj({"scheduleId": ID, "seatIds": {
                "type": "array", "items": ID, "minItems": 1, "maxItems": 4, "uniqueItems": True,
                "description": "at most MAX_SEATS_PER_RESERVATION (default 4)"}})),
            "responses": {"201": json_body(reservation_schema(["HELD"], False), "Held"),
                          **errors((400, "INVALID_SEAT_SELECTION, INVALID_BODY, MALFORMED_JSON"), token_401,
                                   session_403, (404, "SCHEDULE_NOT_FOUND, SEAT_NOT_FOUND"),
                                   (409, "SEAT_UNAVAILABLE, HOLD_EXISTS"), 413, 415)}}},
        "/api/v1/reservations/{reservationId}": {
            "get": {"summary": "A reservation of the caller", "tags": ["account"], "security": booking,
                    "parameters": [reservation],
                    "responses": {"200": json_body(reservation_schema(["HELD", "CONFIRMED", "CANCELED", "EXPIRED"], True)),
                                  **errors((400, "INVALID_PATH"), token_401, (404, "RESERVATION_NOT_FOUND"))}},
            "delete": {"summary": "Release a hold", "tags": ["account"], "security": booking,
                       "parameters": [reservation], "responses": {
                           "200": json_body(obj({"reservationId": UUID, "status": {"type": "string", "enum": ["CANCELED"]}})),
                           **errors((400, "INVALID_PATH"), token_401, (404, "RESERVATION_NOT_FOUND"),
                                    (409, "ALREADY_CONFIRMED, PAYMENT_IN_PROGRESS"))}}},
        "/api/v1/payments": {"post": {
            "summary": "Pay a held reservation from the balance", "tags": ["booking"], "security": booking,
            "parameters": [{**idem, "required": True, "description": "required; the same key and body replay the stored response"}],
            "requestBody": request(obj({"reservationId": UUID})),
            "responses": {"201": json_body(obj({
                "paymentId": UUID, "reservationId": UUID, "amount": COUNT,
                "status": {"type": "string", "enum": ["COMPLETED"]}, "paidAt": TIME}), "Paid (or the stored response)"),
                **errors((400, "INVALID_IDEMPOTENCY_KEY, INVALID_BODY, MALFORMED_JSON"), token_401,
                         (402, "INSUFFICIENT_BALANCE"), session_403, (404, "RESERVATION_NOT_FOUND"),
                         (409, "HOLD_EXPIRED, SEAT_UNAVAILABLE, ALREADY_CONFIRMED, IDEMPOTENCY_IN_PROGRESS, PAYMENT_IN_PROGRESS"),
                         413, 415, (422, "IDEMPOTENCY_KEY_REUSED"))}}},
        "/api/v1/balance": {"get": {
            "summary": "The caller's balance (0 if never charged)", "tags": ["account"], "security": booking,
            "responses": {"200": json_body(obj({"userId": {"type": "string"}, "balance": COUNT})),
                          **errors(token_401)}}},
        "/api/v1/balance/charge": {"post": {
            "summary": "Charge the balance", "tags": ["account"], "security": booking,
            "parameters": [{**idem, "description": "optional; the same key and body replay the stored response"}],
            "requestBody": request(obj({"amount": {"type": "integer", "format": "int64", "minimum": 1,
                                                   "description": "won, at most MAX_CHARGE"}})),
            "responses": {"200": json_body(obj({"userId": {"type": "string"}, "chargedAmount": COUNT,
                                                "balance": COUNT, "chargedAt": TIME})),
                          **errors((400, "INVALID_AMOUNT, INVALID_IDEMPOTENCY_KEY, INVALID_BODY, MALFORMED_JSON"),
                                   token_401, (409, "IDEMPOTENCY_IN_PROGRESS"), 413, 415,
                                   (422, "IDEMPOTENCY_KEY_REUSED"))}}},
        "/api/v1/admin/concerts": {"post": {
            "summary": "Create a concert and open its queue", "tags": ["admin"], "security": [{"adminToken": []}],
            "requestBody": request(obj({"name": {"type": "string", "minLength": 1, "maxLength": 200},
                                        "schedules": {"type": "array", "minItems": 1, "maxItems": 20, "items": obj({
                                            "startsAt": TIME,
                                            "seatCount": {"type": "integer", "minimum": 1, "maximum": 10000},
                                            "price": {"type": "integer", "format": "int64", "minimum": 0,
                                                      "maximum": 100000000}})}})),
            "responses": {"201": json_body(obj({"concertId": INT64, "schedules": {"type": "array", "items": obj({
                "scheduleId": INT64, "seatIds": {"type": "array", "items": INT64}})}}), "Created"),
                **errors((400, "INVALID_CONCERT, INVALID_BODY, MALFORMED_JSON"), (401, "UNAUTHORIZED"), 413, 415)}}},
        **system_paths("Redis and Postgres"),
    }
    for p in paths.values():
        for op in p.values():
            op.setdefault("security", [])
    security = {"accessToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                "description": "the accessToken from the gateway's status response"},
                "adminToken": {"type": "http", "scheme": "bearer", "description": "ADMIN_TOKEN"}}
    return document("Ticketing api", "Booking: schedules, seats, holds, balance and payments.", paths, {}, security)


for name, doc in (("gateway", gateway()), ("api", api())):
    with open(os.path.join(ROOT, name, "openapi.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
