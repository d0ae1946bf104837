-- A delivery given back to wait for its endpoint's rate (DeferLeases) is
-- marked until an attempt of it is recorded, so that raising the rate
-- brings forward those and not the endpoint's scheduled retries.
ALTER TABLE deliveries ADD COLUMN paced boolean NOT NULL DEFAULT false;
