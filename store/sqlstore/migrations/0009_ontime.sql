-- The on-time report (OnTimeReport) counts dossiers against their due date
-- without opening the canonical dossiers: the ledger keeps the due date
-- (NgayHenTra) and when the dossier first reached a resolved status (9 or
-- 10). Rows written before this migration have neither (NULL) until their
-- dossier's next version is written, and are not counted.
ALTER TABLE ledger ADD COLUMN due_at {{.Time}};
ALTER TABLE ledger ADD COLUMN resolved_at {{.Time}};
-- The report of a period reads its due dates; the overdue gauge, every
-- few seconds, the unresolved ones.
CREATE INDEX ledger_due ON ledger (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX ledger_overdue ON ledger (due_at) WHERE resolved_at IS NULL AND due_at IS NOT NULL;
