-- How many tickets a user owns of a concert, for the ticket limit. VOLATILE (and plpgsql, so
-- never inlined) on purpose: under READ COMMITTED each of its queries takes a snapshot of its
-- own, so the payment statement, which calls it only once it holds the user's wallet row lock,
-- counts every sale of the user that committed before it got that lock, not only those its
-- own snapshot (taken at its start, maybe before a concurrent sale committed) shows.
CREATE FUNCTION tickets_owned(owner TEXT, concert BIGINT) RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN (SELECT count(*) FROM reservations r JOIN tickets t ON t.reservation_id = r.id
            WHERE r.user_id = owner AND r.concert_id = concert);
END;
$$;
