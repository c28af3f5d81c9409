package com.example.gateway;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * One upstream connection per host, shared by the gateway's request threads.
 * Opening a connection is expensive, so each host must get exactly one.
 */
public final class ConnectionRegistry implements AutoCloseable {
    public interface Connection extends AutoCloseable {
        String host();

        @Override
        void close();
    }

    private final Map<String, Connection> connections = new ConcurrentHashMap<>();
    private final Function<String, Connection> opener;

    public ConnectionRegistry(Function<String, Connection> opener) {
        this.opener = opener;
    }

    public Connection forHost(String host) {
        Connection existing = connections.get(host);
        if (existing != null) {
            return existing;
        }
        Connection opened = opener.apply(host);
        connections.put(host, opened);
        return opened;
    }

    public void drop(String host) {
        Connection removed = connections.remove(host);
        if (removed != null) {
            removed.close();
        }
    }

    public int size() {
        return connections.size();
    }

    @Override
    public void close() {
        connections.values().forEach(Connection::close);
        connections.clear();
    }
}
