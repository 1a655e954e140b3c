-- The source of truth: concerts and seats, money, and what was sold.

CREATE TABLE concerts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE schedules (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    concert_id  BIGINT NOT NULL REFERENCES concerts (id),
    starts_at   TIMESTAMPTZ NOT NULL,
    total_seats INTEGER NOT NULL CHECK (total_seats > 0)
);
CREATE INDEX schedules_concert_idx ON schedules (concert_id);

CREATE TABLE seats (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule_id BIGINT NOT NULL REFERENCES schedules (id),
    seat_number INTEGER NOT NULL CHECK (seat_number > 0),
    price       BIGINT NOT NULL CHECK (price >= 0),
    CONSTRAINT seats_schedule_number_key UNIQUE (schedule_id, seat_number)
);

-- Balance changes only through conditional updates; it can never go below zero.
CREATE TABLE wallets (
    user_id     TEXT PRIMARY KEY,
    balance     BIGINT NOT NULL DEFAULT 0 CONSTRAINT wallets_balance_check CHECK (balance >= 0),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Reservations reach Postgres when they are paid; while held they live in Redis.
-- No foreign keys to concerts or schedules here or in tickets: every payment of a sale would
-- lock the same concert and schedule rows (FOR KEY SHARE) and queue on them; tickets
-- reference their seats, which carry the schedule.
CREATE TABLE reservations (
    id           UUID PRIMARY KEY,
    user_id      TEXT NOT NULL,
    concert_id   BIGINT NOT NULL,
    schedule_id  BIGINT NOT NULL,
    total_price  BIGINT NOT NULL CHECK (total_price >= 0),
    status       TEXT NOT NULL CHECK (status IN ('CONFIRMED')),
    expires_at   TIMESTAMPTZ NOT NULL,
    confirmed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX reservations_user_idx ON reservations (user_id);

CREATE TABLE payments (
    id             UUID PRIMARY KEY,
    reservation_id UUID NOT NULL REFERENCES reservations (id),
    user_id        TEXT NOT NULL,
    amount         BIGINT NOT NULL CHECK (amount >= 0),
    status         TEXT NOT NULL DEFAULT 'COMPLETED' CHECK (status IN ('COMPLETED')),
    paid_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT payments_reservation_id_key UNIQUE (reservation_id)
);

-- The fence: a seat of a schedule is sold at most once, whatever Redis says.
CREATE TABLE tickets (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule_id    BIGINT NOT NULL,
    seat_id        BIGINT NOT NULL REFERENCES seats (id),
    reservation_id UUID NOT NULL REFERENCES reservations (id),
    user_id        TEXT NOT NULL,
    price          BIGINT NOT NULL CHECK (price >= 0),
    CONSTRAINT tickets_schedule_seat_key UNIQUE (schedule_id, seat_id)
);
CREATE INDEX tickets_reservation_idx ON tickets (reservation_id);

-- Append-only: one entry per charge (amount > 0) or payment (amount <= 0, the debit).
CREATE TABLE ledger (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('CHARGE', 'PAYMENT')),
    amount      BIGINT NOT NULL,
    charge_id   UUID UNIQUE,
    payment_id  UUID UNIQUE REFERENCES payments (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT ledger_entry_kind_check CHECK (
        (kind = 'CHARGE' AND amount > 0 AND charge_id IS NOT NULL AND payment_id IS NULL)
        OR (kind = 'PAYMENT' AND amount <= 0 AND payment_id IS NOT NULL AND charge_id IS NULL)
    )
);
CREATE INDEX ledger_user_idx ON ledger (user_id);

CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger is append-only';
END;
$$;
CREATE TRIGGER ledger_no_update BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_is_append_only();

-- A stored response per (user, Idempotency-Key); the request hash covers endpoint and body.
CREATE TABLE idempotency_keys (
    user_id         TEXT NOT NULL,
    key             TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash    BYTEA NOT NULL,
    response_status SMALLINT NOT NULL,
    response_body   JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
