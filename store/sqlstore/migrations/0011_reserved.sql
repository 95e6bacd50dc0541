-- Reserved for another branch's migration 0011 (issue 17); this placeholder
-- goes when that branch is merged. Versions must be contiguous.
SELECT 1;
