-- The sale of a concert: when it opens (a pre-queue drawn with a secret seed before it), and
-- when and why its queue closed. The seed stays here so a queue re-opened after Redis lost it
-- keeps the commitment already published.
ALTER TABLE concerts
    ADD COLUMN opens_at TIMESTAMPTZ,
    ADD COLUMN draw_seed BYTEA CONSTRAINT concerts_draw_seed_check CHECK (length(draw_seed) = 32),
    ADD COLUMN closed_at TIMESTAMPTZ,
    ADD COLUMN close_reason TEXT
        CONSTRAINT concerts_close_reason_check CHECK (close_reason IN ('SOLD_OUT', 'CLOSED')),
    ADD CONSTRAINT concerts_closed_check CHECK ((closed_at IS NULL) = (close_reason IS NULL));

-- The reconciler reads only concerts whose queue is open.
CREATE INDEX concerts_open_idx ON concerts (id) WHERE closed_at IS NULL;

-- A user's tickets of a concert (the ticket limit, "my tickets") start from their reservations.
CREATE INDEX reservations_user_concert_idx ON reservations (user_id, concert_id);
