-- Detection that does not depend on delivery order revises alerts after the fact: a late
-- record can show that an alert rested on a wrong premise (it is withdrawn, with the reason)
-- or that a denial burst began earlier than first seen (its alert is renamed to its true
-- dedup key). A withdrawal is told to every sink that was told of the alert, so the outbox
-- gains the kind of notice each row carries.

ALTER TABLE alerts ADD COLUMN withdrawn_because TEXT;

-- `raised` (the alert) or `withdrawn` (the alert taken back).
ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'raised';
ALTER TABLE outbox DROP CONSTRAINT outbox_once_per_sink;
ALTER TABLE outbox ADD CONSTRAINT outbox_once_per_sink_and_kind UNIQUE (dedup_key, sink, kind);
