-- wrk script for scripts/bench-memory.sh: one request per distinct role, N roles, then exit.
--
--   wrk -t1 -cC -d30m -s scripts/wrk/memory-fill.lua URL -- N ROLE_PREFIX TOKEN_FILE RESULT_FILE
--
-- Request i asks GET /v1/container-credentials?role_arn=<ROLE_PREFIX><i> (i = 1..N, zero-padded to
-- 6 digits), so each one is a new cache key (a miss, one STS call, one new entry). Once N answers
-- have come back it writes "ok=<200s> bad=<others>" to RESULT_FILE and exits the process (wrk
-- itself would only stop at -d). The workload token is re-read from TOKEN_FILE every 1,000
-- requests, so a fill that outlasts one token (5 minutes at the test IdP) keeps working.
local n, prefix, token_file, result_file
local token
local sent, ok, bad = 0, 0, 0
local verified = false

local function read_token()
  local f = io.open(token_file, "r")
  if f then
    local t = f:read("*l")
    f:close()
    if t and #t > 0 then token = t end
  end
end

function init(args)
  n = tonumber(args[1])
  prefix = args[2]
  token_file = args[3]
  result_file = args[4]
  read_token()
end

function request()
  if not verified then
    -- wrk calls request() once before the run to check it, and never sends that one.
    verified = true
    return wrk.format("GET", "/healthz")
  end
  sent = sent + 1
  if sent > n then
    -- Every role was asked for: keep the connection busy with something that adds nothing.
    return wrk.format("GET", "/healthz")
  end
  if sent % 1000 == 0 then read_token() end
  local path = string.format("/v1/container-credentials?role_arn=%s%06d", prefix, sent)
  return wrk.format("GET", path, { Authorization = token })
end

function response(status, headers, body)
  if body:find('"status"', 1, true) then return end -- a /healthz answer
  if status == 200 then ok = ok + 1 else bad = bad + 1 end
  if ok + bad >= n then
    local f = assert(io.open(result_file, "w"))
    f:write(string.format("ok=%d bad=%d\n", ok, bad))
    f:close()
    os.exit(0)
  end
end
