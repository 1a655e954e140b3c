-- The pre-queue's draw as the gateway applied it, copied by the reconciler once it is made,
-- so a draw Redis lost comes back as it was: the published order stays checkable, and a fan
-- holding a pre-queue token finds their drawn place again (see `store/catalog.rs`).
CREATE TABLE concert_draws (
    concert_id BIGINT PRIMARY KEY REFERENCES concerts (id),
    -- The arrival sequence of the first drawn place; the others follow it.
    first_seq  BIGINT NOT NULL CHECK (first_seq > 0),
    -- The entrant ids (32 bytes each, `shared::draw::entrant_id`) in drawn order.
    entrants   BYTEA NOT NULL CHECK (length(entrants) % 32 = 0),
    drawn_at   TIMESTAMPTZ NOT NULL
);
