package com.example.billing;

import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/** Accounts and their plans; upgrades take effect at once, downgrades at renewal. */
public final class AccountService {
    public static final String FREE = "free";
    public static final String PRO = "pro";
    public static final String TEAM = "team";

    private final Map<String, Account> accounts = new HashMap<>();

    public record Account(String id, String plan, String pendingPlan) {}

    public void open(String id) {
        accounts.putIfAbsent(id, new Account(id, FREE, null));
    }

    public Optional<Account> find(String id) {
        return Optional.ofNullable(accounts.get(id));
    }

    private static int rank(String plan) {
        return switch (plan) {
            case FREE -> 0;
            case PRO -> 1;
            case TEAM -> 2;
            default -> throw new IllegalArgumentException("unknown plan: " + plan);
        };
    }

    /** Changes the plan of an account; returns false when the account does not exist. */
    public boolean changePlan(String id, String requestedPlan) {
        Account account = accounts.get(id);
        if (account == null) {
            return false;
        }
        if (account.plan() == requestedPlan) {
            return true;
        }
        if (rank(requestedPlan) > rank(account.plan())) {
            accounts.put(id, new Account(id, requestedPlan, null));
        } else {
            accounts.put(id, new Account(id, account.plan(), requestedPlan));
        }
        return true;
    }
}
