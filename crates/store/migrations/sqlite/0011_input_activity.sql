-- When each worker last committed a batch that brought records, on the database's clock. A
-- worker releases the decisions still waiting for records on their way only when no worker
-- has brought any for the settle time: the quiet spell is the input's as a whole, not one
-- worker's, so an idle worker does not release keys whose records another is still reading.
ALTER TABLE detector_position ADD COLUMN input_at INTEGER;
