-- Mixed traffic for bench/soak.sh: reads, lists, creates, updates and (one request in
-- LOGIN_EVERY) an OAuth2-form login, cycling over the tasks in SOAK_IDS. Every
-- status is counted; done() prints one line "SOAKJSON {...}" for soak.sh.
local ids = {}
for id in string.gmatch(os.getenv("SOAK_IDS") or "", "[^,]+") do ids[#ids + 1] = id end
local token = os.getenv("SOAK_TOKEN")
local login_body = os.getenv("SOAK_LOGIN")
local login_every = 500

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

statuses = {}
local n = 0

function request()
  n = n + 1
  local id = ids[(n % #ids) + 1]
  local auth = { ["Authorization"] = "Bearer " .. token }
  if n % login_every == 0 then
    return wrk.format("POST", "/api/v1/auth/login",
      { ["Content-Type"] = "application/x-www-form-urlencoded" }, login_body)
  end
  local kind = n % 4
  if kind == 0 then
    return wrk.format("GET", "/api/v1/tasks/" .. id, auth)
  elseif kind == 1 then
    return wrk.format("GET", "/api/v1/tasks?limit=20&sort=-updated_at", auth)
  elseif kind == 2 then
    auth["Content-Type"] = "application/json"
    return wrk.format("PATCH", "/api/v1/tasks/" .. id, auth, '{"priority":"high"}')
  else
    auth["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/v1/tasks", auth, '{"title":"soak","description":"written by the soak"}')
  end
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[tostring(status)] = (total[tostring(status)] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total) do parts[#parts + 1] = string.format('"%s":%d', status, count) end
  io.write(string.format('SOAKJSON {"requests":%d,"errors":%d,"p99_ms":%.2f,"statuses":{%s}}\n',
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(99) / 1000, table.concat(parts, ",")))
end
