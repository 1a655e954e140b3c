-- The promises the data must keep, read by scripts/check-invariants and by the api's tests.
-- Each check is a line `-- check: <name>` followed by one SELECT that selects the offending
-- rows (none when the promise holds) and ends with `;`. Nothing else but comments.

-- check: a seat is sold at most once
SELECT schedule_id, seat_id, count(*) AS tickets, string_agg(reservation_id::text, ', ') AS reservations
FROM tickets GROUP BY schedule_id, seat_id HAVING count(*) > 1;

-- check: every ticket is sold at its seat's price
SELECT t.id AS ticket_id, t.reservation_id, t.seat_id, t.price AS ticket_price, s.price AS seat_price
FROM tickets t LEFT JOIN seats s ON s.id = t.seat_id
WHERE s.id IS NULL OR t.price <> s.price;

-- check: every ticket's schedule is its seat's, and its reservation's
SELECT t.id AS ticket_id, t.reservation_id, t.seat_id, t.schedule_id AS ticket_schedule,
       s.schedule_id AS seat_schedule, r.schedule_id AS reservation_schedule
FROM tickets t LEFT JOIN seats s ON s.id = t.seat_id LEFT JOIN reservations r ON r.id = t.reservation_id
WHERE s.id IS NULL OR t.schedule_id <> s.schedule_id OR r.id IS NULL OR t.schedule_id <> r.schedule_id;

-- check: every ticket's reservation has a payment
SELECT t.id AS ticket_id, t.reservation_id, t.user_id, t.schedule_id, t.seat_id
FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM payments p WHERE p.reservation_id = t.reservation_id);

-- check: every payment has exactly one ledger entry, of -amount, for its user
SELECT p.id AS payment_id, p.user_id, p.amount, count(l.id) AS entries,
       string_agg(l.amount::text, ', ') AS ledger_amounts, string_agg(DISTINCT l.user_id, ', ') AS ledger_users
FROM payments p LEFT JOIN ledger l ON l.payment_id = p.id
GROUP BY p.id, p.user_id, p.amount
HAVING count(l.id) <> 1 OR bool_or(l.amount <> -p.amount) OR bool_or(l.user_id <> p.user_id)
    OR bool_or(l.kind <> 'PAYMENT');

-- check: every payment's amount is the sum of its tickets' prices
SELECT p.id AS payment_id, p.reservation_id, p.amount, COALESCE(t.total, 0) AS tickets_total, COALESCE(t.n, 0) AS tickets
FROM payments p
LEFT JOIN (SELECT reservation_id, sum(price) AS total, count(*) AS n FROM tickets GROUP BY reservation_id) t
       ON t.reservation_id = p.reservation_id
WHERE p.amount <> COALESCE(t.total, 0) OR COALESCE(t.n, 0) = 0;

-- check: every reservation in Postgres is paid, with tickets of its user and its total
SELECT r.id AS reservation_id, r.user_id, r.total_price, COALESCE(sum(t.price), 0) AS tickets_total,
       count(t.id) AS tickets, string_agg(DISTINCT t.user_id, ', ') AS ticket_users,
       EXISTS (SELECT 1 FROM payments p WHERE p.reservation_id = r.id) AS paid
FROM reservations r LEFT JOIN tickets t ON t.reservation_id = r.id
GROUP BY r.id, r.user_id, r.total_price
HAVING count(t.id) = 0 OR COALESCE(sum(t.price), 0) <> r.total_price OR bool_or(t.user_id <> r.user_id)
    OR NOT EXISTS (SELECT 1 FROM payments p WHERE p.reservation_id = r.id);

-- check: every wallet balance equals the sum of its user's ledger
SELECT w.user_id, w.balance, COALESCE(l.total, 0) AS ledger_total, COALESCE(l.n, 0) AS entries
FROM wallets w LEFT JOIN (SELECT user_id, sum(amount) AS total, count(*) AS n FROM ledger GROUP BY user_id) l
       ON l.user_id = w.user_id
WHERE w.balance <> COALESCE(l.total, 0);

-- check: every user with ledger entries has a wallet
SELECT l.user_id, count(*) AS entries, sum(l.amount) AS ledger_total
FROM ledger l WHERE NOT EXISTS (SELECT 1 FROM wallets w WHERE w.user_id = l.user_id)
GROUP BY l.user_id;

-- check: no balance is negative
SELECT user_id, balance FROM wallets WHERE balance < 0;

-- check: each ledger entry is exactly one charge or one payment
SELECT id, user_id, kind, amount, charge_id, payment_id FROM ledger
WHERE (charge_id IS NULL) = (payment_id IS NULL)
   OR kind IS DISTINCT FROM (CASE WHEN charge_id IS NOT NULL THEN 'CHARGE' ELSE 'PAYMENT' END)
   OR (kind = 'CHARGE' AND amount <= 0) OR (kind = 'PAYMENT' AND amount > 0)
   OR (payment_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.id = ledger.payment_id));

-- check: nobody owns more tickets of a concert than the ticket limit
-- The limit is the setting ticketing.max_tickets_per_user (scripts/check-invariants sets it from
-- MAX_TICKETS_PER_USER), 4 when unset, as the api's default.
SELECT r.user_id, r.concert_id, count(t.id) AS tickets,
       COALESCE(NULLIF(current_setting('ticketing.max_tickets_per_user', true), '')::int, 4) AS max_tickets
FROM reservations r JOIN tickets t ON t.reservation_id = r.id
GROUP BY r.user_id, r.concert_id
HAVING count(t.id) > COALESCE(NULLIF(current_setting('ticketing.max_tickets_per_user', true), '')::int, 4);
