-- A ticket names a seat of its own schedule: the composite foreign key makes a ticket whose
-- schedule_id is not its seat's impossible, so the fence `tickets_schedule_seat_key` is in
-- effect UNIQUE (seat_id) and a seat cannot be sold twice under two schedule ids. It replaces
-- the plain seat FK, so an insert still checks (and key-share locks) one seats row.
ALTER TABLE seats ADD CONSTRAINT seats_schedule_id_key UNIQUE (schedule_id, id);
ALTER TABLE tickets
    ADD CONSTRAINT tickets_seat_of_schedule_fkey
    FOREIGN KEY (schedule_id, seat_id) REFERENCES seats (schedule_id, id);
ALTER TABLE tickets DROP CONSTRAINT tickets_seat_id_fkey;
