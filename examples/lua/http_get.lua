-- http_get.lua: a tiny HTTP/1.0 server and a client fetching from it,
-- in one script, over loopback.

local pages = {["/hello"] = "Hello from Lua over lcsock!\n"}

local http = {} -- the server object

function http:newConnection(id)
  socket.read(id, "\r\n\r\n", "gotRequest") -- the request head
end

function http:gotRequest(id, head)
  local path = head:match("^GET (%S+) HTTP/1%.[01]\r\n")
  local body, status = pages[path], "200 OK"
  if not body then
    body, status = "not found\n", "404 Not Found"
  end
  socket.write(id, "HTTP/1.0 " .. status .. "\r\n" ..
    "Content-Type: text/plain\r\n" ..
    "Content-Length: " .. #body .. "\r\n\r\n" .. body, "sent")
end

function http:sent(id)
  socket.close(id) -- HTTP/1.0: the end of the body is the end of the connection
end

local port = assert(socket.accept(0, "newConnection", {handlers = http}))

-- The client: fetch a path, then call done(status, body).
local function get(path, done)
  local id = "127.0.0.1:" .. port .. "|get " .. path
  local client = {}
  function client:connected(id)
    socket.write(id, "GET " .. path .. " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    socket.read(id, socket.EOF, "gotResponse") -- everything, until the server closes
  end
  function client:gotResponse(id, response)
    local status, body = response:match("^HTTP/1%.0 ([^\r]*)\r\n.-\r\n\r\n(.*)$")
    done(status, body)
  end
  function client:socketError(id, text)
    done(nil, text)
  end
  assert(socket.open(id, "connected", {handlers = client}))
end

-- Fetch the paths one after the other, so the output keeps their order.
local paths, finished = {"/hello", "/missing"}, false
local function fetch(i)
  if i > #paths then
    finished = true
    return
  end
  get(paths[i], function(status, body)
    print("GET " .. paths[i] .. ": " .. tostring(status))
    print((body:gsub("\n$", "")))
    fetch(i + 1)
  end)
end
fetch(1)

-- A client's socket closes once its socketClosed has been handled, which
-- may come in a later wait than its response: wait for that too.
while not finished or #socket.opensockets() > 1 do
  if socket.wait(10) == 0 then
    error("no answer for 10 seconds")
  end
end
socket.close(tostring(port))
