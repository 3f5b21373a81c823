-- wrk script: each request redeems the next unused authorization code at /token.
-- Codes come from the file named by CODES (one per line), split between wrk threads.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local n = tonumber(os.getenv("THREADS") or "1")
  codes = {}
  local i = 0
  for line in io.lines(os.getenv("CODES") or "target/codes.txt") do
    if i % n == id then table.insert(codes, line) end
    i = i + 1
  end
  next_code = 1
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Authorization"] = "Basic YmVuY2g6YmVuY2gtc2VjcmV0LTAxMjM0NTY3ODktYWJjZGVmZ2hpag=="
end

function request()
  local code = codes[next_code] or "exhausted"
  next_code = next_code + 1
  return wrk.format(nil, "/token", nil,
    "grant_type=authorization_code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb" ..
    "&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk&code=" .. code)
end

function response(status, headers, body)
  if status ~= 200 then errors = (errors or 0) + 1 end
end
