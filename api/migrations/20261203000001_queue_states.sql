-- The durable copy of each concert queue's settings and state, so a queue Redis lost comes
-- back by itself (see `store/catalog.rs`, `reopen_queues`). Written when the concert is
-- created (with the settings it opens with), then by the reconciler: the settings and pause
-- state an admin set through the gateway, the highest sequence admitted, and the arrival
-- counter's lease. `seq_lease` is written before Redis's `seqLimit` is raised to it, so every
-- sequence the gateway ever handed out is below it: a lost queue's counter resumes from it.
CREATE TABLE queue_states (
    concert_id          BIGINT PRIMARY KEY REFERENCES concerts (id),
    admit_per_tick      INT NOT NULL CHECK (admit_per_tick > 0),
    tick_millis         INT NOT NULL CHECK (tick_millis > 0),
    max_active          INT NOT NULL CHECK (max_active > 0),
    session_ttl_seconds INT NOT NULL CHECK (session_ttl_seconds > 0),
    paused              BOOLEAN NOT NULL,
    seq_lease           BIGINT NOT NULL CHECK (seq_lease > 0),
    admitted_through    BIGINT NOT NULL DEFAULT 0 CHECK (admitted_through >= 0),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
