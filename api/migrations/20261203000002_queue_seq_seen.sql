-- The highest arrival sequence the reconciler has seen Redis hand out: Redis's counter below
-- it means Redis lost its last writes (a failover) while keeping the queue.
ALTER TABLE queue_states
    ADD COLUMN seq_seen BIGINT NOT NULL DEFAULT 0 CONSTRAINT queue_states_seq_seen_check CHECK (seq_seen >= 0);
