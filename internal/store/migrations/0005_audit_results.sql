-- 0005: one vocabulary of audit results for the console's and the agent's
-- logs: "failed", as the agent writes it, not "fail".
UPDATE audit SET result = 'failed' WHERE result = 'fail';
