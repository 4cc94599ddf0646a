-- demo.lua: an echo server and its client in one script, over loopback.
--
-- The server accepts on a port the system picks, reads lines and answers
-- each one upper-cased. The client connects, writes three lines, reads
-- the answers one by one with a message, then closes. Everything happens
-- in callbacks, which run only inside socket.wait: the script's loop is
-- LiveCode's "wait for messages".

local lines = {"hello", "livecode sockets", "from lua"}

-- The server is an object: a handler table. Its functions are called as
-- methods, and reads it issues send their messages back to it.
local server = {}

function server:newConnection(id, port)
  socket.read(id, "\n", "gotLine")
end

function server:gotLine(id, line)
  if socket.result() == "eof" then
    return -- the client closed; socketClosed follows
  end
  socket.write(id, string.upper(line))
  socket.read(id, "\n", "gotLine")
end

function server:socketClosed(id)
  print("server: the client closed the connection")
  self.done = true
end

-- The client uses global functions, LiveCode's message path ends there.
local replies = 0

function connected(id)
  print("client: connected")
  for _, line in ipairs(lines) do
    socket.write(id, line .. "\n") -- queued until sent; no message needed
  end
  socket.read(id, "\n", "gotReply")
end

function gotReply(id, line)
  replies = replies + 1
  print("client: got " .. line:gsub("\n$", ""))
  if replies < #lines then
    socket.read(id, "\n", "gotReply")
  else
    socket.close(id)
  end
end

function socketError(id, text)
  error("socket error on " .. id .. ": " .. text)
end

local port = assert(socket.accept(0, "newConnection", {handlers = server}))
print("server: listening")
assert(socket.open("127.0.0.1:" .. port .. "|client", "connected"))

while not server.done do
  if socket.wait(10) == 0 then
    error("nothing happened for 10 seconds")
  end
end

socket.close(tostring(port))
print("open sockets: " .. #socket.opensockets())
