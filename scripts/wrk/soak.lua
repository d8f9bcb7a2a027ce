-- wrk script for scripts/soak.sh: steady, rate-limited, mixed load on the credentials endpoint.
--
--   wrk -t1 -cC -dD -s scripts/wrk/soak.lua URL -- RATE TOKEN_FILE MISS_ROLES RESULT_FILE C
--
-- Out of every 200 requests: 1 miss, 7 bad requests (each expected status below) and 192 cache
-- hits (4 granted roles, GET /v1/container-credentials). A miss asks for one of MISS_ROLES granted
-- roles with a DurationSeconds from 900 to 1799 (role first, then duration): each pair is a cache
-- key of its own, held 450-900 s (half its lifetime), and the pairs come round again only after
-- MISS_ROLES * 900 misses, so every miss is one STS call. Each connection waits C*1000/RATE ms
-- between requests, so the load is ~RATE requests/s whatever the latency. The workload token is
-- re-read from TOKEN_FILE every 500 requests (the shell refreshes it; tokens live 5 minutes). At
-- the end, done() writes "sent.<kind>=n", "expect.<status>=n", "status.<status>=n", the socket
-- errors and latency percentiles to RESULT_FILE.
local ACCOUNT = "arn:aws:iam::111122223333:role/"
local PATH = "/v1/container-credentials?role_arn="

local rate, token_file, miss_roles, connections
local token, bad_token
local i, miss_next = 0, 0
local verified = false
local oversized = string.rep("x", 300 * 1024) -- over server.max_body_bytes (256 KiB)

-- Thread globals (read by done() through thread:get: done() runs in another Lua state).
sent, statuses, result_file = {}, {}, nil

-- kind -> expected status
local EXPECT = {
  hit = 200, miss = 200,
  bad_token = 401,      -- signature does not verify
  not_a_jwt = 400,      -- malformed_token: not a JWT at all
  unknown_role = 403,   -- role_not_offered: no rule grants it
  oversized = 413,      -- request_too_large (POST /v1/web-identity/credentials)
  no_token = 400,       -- missing_token
  bad_arn = 400,        -- role_arn is not an ARN
  not_found = 404,      -- a new unknown path each time (metrics must not grow a label per path)
}

local function read_token()
  local f = io.open(token_file, "r")
  if f then
    local t = f:read("*l")
    f:close()
    if t and #t > 0 then
      token = t
      -- Same header and claims, last signature characters changed: the signature no longer verifies.
      local last = t:sub(-4) == "AAAA" and "BBBB" or "AAAA"
      bad_token = t:sub(1, -5) .. last
    end
  end
end

function setup(thread)
  threads = threads or {}
  table.insert(threads, thread)
end

function init(args)
  rate = tonumber(args[1])
  token_file = args[2]
  miss_roles = tonumber(args[3])
  result_file = args[4]
  connections = tonumber(args[5])
  read_token()
end

local function get(kind, query, authorization)
  sent[kind] = (sent[kind] or 0) + 1
  local headers = {}
  if authorization then headers["Authorization"] = authorization end
  return wrk.format("GET", PATH .. query, headers)
end

function request()
  if not verified then
    -- wrk calls request() once before the run to check it, and never sends that one: not counted.
    verified = true
    return wrk.format("GET", "/healthz")
  end
  i = i + 1
  if i % 500 == 0 then read_token() end
  local slot = i % 200
  if slot == 0 then
    local n = miss_next % (miss_roles * 900)
    miss_next = miss_next + 1
    return get("miss", string.format("%sSoak-Miss-%d&duration_seconds=%d",
      ACCOUNT, n % miss_roles, 900 + math.floor(n / miss_roles)), token)
  elseif slot == 20 then
    return get("bad_token", ACCOUNT .. "Soak-Hit-1", bad_token)
  elseif slot == 40 then
    return get("not_a_jwt", ACCOUNT .. "Soak-Hit-1", "not-a-jwt")
  elseif slot == 60 then
    return get("unknown_role", ACCOUNT .. "Soak-Unknown", token)
  elseif slot == 80 then
    sent.oversized = (sent.oversized or 0) + 1
    return wrk.format("POST", "/v1/web-identity/credentials",
      { ["Content-Type"] = "application/json" }, oversized)
  elseif slot == 100 then
    return get("no_token", ACCOUNT .. "Soak-Hit-1", nil)
  elseif slot == 120 then
    return get("bad_arn", "not-an-arn", token)
  elseif slot == 140 then
    sent.not_found = (sent.not_found or 0) + 1
    return wrk.format("GET", string.format("/v1/soak-unknown/%d", i))
  end
  return get("hit", string.format("%sSoak-Hit-%d", ACCOUNT, i % 4), token)
end

function delay()
  return connections * 1000 / rate
end

function response(status, headers, body)
  local k = tostring(status)
  statuses[k] = (statuses[k] or 0) + 1
end

function done(summary, latency, requests)
  local f = assert(io.open(threads[1]:get("result_file"), "w"))
  local expect = {}
  for _, t in ipairs(threads) do
    for kind, n in pairs(t:get("sent")) do
      f:write(string.format("sent.%s=%d\n", kind, n))
      local s = tostring(EXPECT[kind])
      expect[s] = (expect[s] or 0) + n
    end
    for s, n in pairs(t:get("statuses")) do f:write(string.format("status.%s=%d\n", s, n)) end
  end
  for s, n in pairs(expect) do f:write(string.format("expect.%s=%d\n", s, n)) end
  local e = summary.errors
  f:write(string.format("requests=%d\nduration_us=%d\n", summary.requests, summary.duration))
  f:write(string.format("errors.connect=%d\nerrors.read=%d\nerrors.write=%d\nerrors.timeout=%d\n",
    e.connect, e.read, e.write, e.timeout))
  f:write(string.format("latency.p50_us=%d\nlatency.p99_us=%d\nlatency.max_us=%d\n",
    latency:percentile(50), latency:percentile(99), latency.max))
  f:close()
end
