package dev.walkeeper.actors.consensus;

import dev.walkeeper.actors.consensus.ConsensusSimulation.SimNode;
import dev.walkeeper.actors.consensus.ConsensusSimulation.SimProposer;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AcceptorGreeting;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AppendResponse;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.VoteResponse;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.AppendRequest;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerElected;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The simulated network and the step scheduler. A connection joins one proposer to one node; it
 * is FIFO both ways, as TCP; dropping it loses whatever was in flight and both ends learn of it
 * (the proposer through {@link Proposer#nodeDisconnected}). A partition gives every node and
 * proposer a side; a message across sides breaks its connection, and no connection across sides
 * can be opened until the partition heals.
 */
final class SimNetwork {

    /** One proposer–node connection; a new incarnation gets a new object. */
    static final class Conn {
        final SimProposer proposer;
        final int node;
        boolean open = true;
        final ArrayDeque<ProposerMessage> toNode = new ArrayDeque<>();
        /** Replies, each with the WAL snapshot of a vote (null for other replies). */
        final ArrayDeque<Object[]> toProposer = new ArrayDeque<>();

        Conn(SimProposer proposer, int node) {
            this.proposer = proposer;
            this.node = node;
        }
    }

    private final ConsensusSimulation sim;
    private final SplittableRandom random;
    /** The side of each node while partitioned, null when not. */
    private int[] sides;

    SimNetwork(ConsensusSimulation sim) {
        this.sim = sim;
        this.random = sim.random;
    }

    int randomSide() {
        return random.nextInt(2);
    }

    private boolean reachable(SimProposer p, int node) {
        return sim.nodes[node].up && (sides == null || sides[node] == p.side);
    }

    // ---------------------------------------------------------------- connections

    void greetAll(SimProposer p) {
        for (int i = 0; i < sim.nodeCount; i++) {
            p.conns[i] = new Conn(p, i);
        }
        send(p, p.proposer.greetings());
        for (int i = 0; i < sim.nodeCount; i++) {
            if (!reachable(p, i)) {
                close(p, i);
            }
        }
    }

    /** Closes the proposer's connection to the node, if open: in-flight messages are lost. */
    void close(SimProposer p, int node) {
        Conn c = p.conns[node];
        if (c == null || !c.open) {
            return;
        }
        c.open = false;
        c.toNode.clear();
        c.toProposer.clear();
        p.votes[node] = null;
        p.voteWal[node] = null;
        if (!p.dead) {
            p.proposer.nodeDisconnected(node);
        }
    }

    private void reconnect(SimProposer p, int node) {
        p.conns[node] = new Conn(p, node);
        sim.trace("proposer " + p.id + " reconnects to node " + node);
        send(p, p.proposer.nodeReconnected(node));
    }

    void send(SimProposer p, List<Proposer.Outbound> out) {
        for (Proposer.Outbound o : out) {
            Conn c = p.conns[o.node()];
            if (c == null || !c.open) {
                throw new IllegalStateException("proposer " + p.id + " sends to node " + o.node()
                        + " without a connection: " + o.message());
            }
            c.toNode.add(o.message());
        }
    }

    private void reply(Conn c, SimNode node, AcceptorMessage reply) {
        sim.noteReply(node, reply);
        if (!c.open) {
            return;
        }
        byte[] snapshot = reply instanceof VoteResponse v ? sim.flushedWal(node, v.flushLsn()) : null;
        c.toProposer.add(new Object[] {reply, snapshot});
    }

    // ---------------------------------------------------------------- steps

    /** One step: an action chosen at random among those possible now. */
    void step() {
        List<Conn> toNodes = new ArrayList<>();
        List<Conn> toProposers = new ArrayList<>();
        List<Runnable> actions = new ArrayList<>();
        List<Integer> weights = new ArrayList<>();
        for (SimProposer p : sim.live) {
            for (Conn c : p.conns) {
                if (c != null && c.open && !c.toNode.isEmpty()) {
                    toNodes.add(c);
                }
                if (c != null && c.open && !c.toProposer.isEmpty()) {
                    toProposers.add(c);
                }
            }
        }
        if (!toNodes.isEmpty()) {
            add(actions, weights, 60, () -> deliverToNode(toNodes.get(random.nextInt(toNodes.size()))));
        }
        if (!toProposers.isEmpty()) {
            add(actions, weights, 60, () -> deliverToProposer(toProposers.get(random.nextInt(toProposers.size()))));
        }
        // Group commit: a node with unflushed WAL flushes soon, as the timeline does after appends.
        List<SimNode> unflushed = new ArrayList<>();
        for (SimNode n : sim.nodes) {
            if (n.up && !n.wal.writeLsn().equals(n.wal.flushRecordLsn())) {
                unflushed.add(n);
            }
        }
        if (!unflushed.isEmpty()) {
            add(actions, weights, 24, () -> flush(unflushed.get(random.nextInt(unflushed.size()))));
        }
        add(actions, weights, 4, () -> {
            SimNode node = sim.nodes[random.nextInt(sim.nodeCount)];
            if (node.up) {
                flush(node);
            }
        });
        if (!sim.live.isEmpty()) {
            SimProposer p = sim.live.get(random.nextInt(sim.live.size()));
            if (p.proposer.elected()) {
                add(actions, weights, 20, () -> sim.append(p));
                add(actions, weights, 6, () -> proposerInput(p, () -> send(p, p.proposer.heartbeat())));
                add(actions, weights, 10, () -> proposerInput(p, () -> send(p, p.proposer.commitUpdates())));
            }
            int node = random.nextInt(sim.nodeCount);
            Conn c = p.conns[node];
            if ((c == null || !c.open) && reachable(p, node)) {
                add(actions, weights, 12, () -> proposerInput(p, () -> reconnect(p, node)));
            }
            if (c != null && c.open) {
                add(actions, weights, 2, () -> {
                    sim.trace("connection proposer " + p.id + " - node " + node + " drops");
                    close(p, node);
                });
            }
            add(actions, weights, 1, () -> sim.kill(p, "killed"));
        }
        add(actions, weights, sim.live.isEmpty() ? 20 : 1, sim::startProposer);
        SimNode node = sim.nodes[random.nextInt(sim.nodeCount)];
        add(actions, weights, node.up ? 2 : 8, () -> {
            if (node.up) {
                sim.crash(node);
            } else {
                sim.restart(node);
            }
        });
        add(actions, weights, 1, this::partitionOrHeal);
        int total = 0;
        for (int w : weights) {
            total += w;
        }
        int pick = random.nextInt(total);
        for (int i = 0; ; i++) {
            pick -= weights.get(i);
            if (pick < 0) {
                actions.get(i).run();
                return;
            }
        }
    }

    private static void add(List<Runnable> actions, List<Integer> weights, int weight, Runnable action) {
        actions.add(action);
        weights.add(weight);
    }

    private void partitionOrHeal() {
        if (sides != null) {
            sides = null;
            sim.trace("partition heals");
            return;
        }
        sides = new int[sim.nodeCount];
        for (int i = 0; i < sim.nodeCount; i++) {
            sides[i] = randomSide();
        }
        for (SimProposer p : sim.live) {
            p.side = randomSide();
        }
        sim.trace("partition: nodes " + Arrays.toString(sides));
    }

    private void flush(SimNode node) {
        Conn c = node.streaming;
        node.acceptor.flush(reply -> {
            if (c != null) {
                reply(c, node, reply);
            }
        });
        sim.endCommand(node);
    }

    private void deliverToNode(Conn c) {
        SimProposer p = c.proposer;
        if (!reachable(p, c.node)) {
            sim.trace("proposer " + p.id + " - node " + c.node + ": partitioned, the connection drops");
            close(p, c.node);
            return;
        }
        ProposerMessage message = c.toNode.poll();
        SimNode node = sim.nodes[c.node];
        try {
            node.acceptor.handle(message, true, reply -> reply(c, node, reply));
        } catch (AcceptorException e) {
            sim.trace("node " + c.node + " refuses proposer " + p.id + ": " + e.getMessage());
            sim.endCommand(node);
            close(p, c.node);
            return;
        }
        if (message instanceof ProposerElected elected && node.acceptor.electedTerm() == elected.term()) {
            node.streaming = c;
        }
        sim.endCommand(node);
        if (message instanceof AppendRequest append && !append.isHeartbeat() && c.open) {
            // The socket took the WAL: the proposer's send window moves on.
            Lsn end = append.endLsn();
            proposerInput(p, () -> send(p, p.proposer.onWritten(c.node, end)));
        }
    }

    private void deliverToProposer(Conn c) {
        SimProposer p = c.proposer;
        if (!reachable(p, c.node)) {
            sim.trace("node " + c.node + " - proposer " + p.id + ": partitioned, the connection drops");
            close(p, c.node);
            return;
        }
        Object[] entry = c.toProposer.poll();
        AcceptorMessage message = (AcceptorMessage) entry[0];
        proposerInput(p, c.node, () -> {
            if (message instanceof AcceptorGreeting greeting) {
                send(p, p.proposer.onAcceptorGreeting(c.node, greeting));
            } else if (message instanceof VoteResponse vote) {
                p.votes[c.node] = vote;
                p.voteWal[c.node] = (byte[]) entry[1];
                send(p, p.proposer.onVoteResponse(c.node, vote));
            } else {
                p.proposer.onAppendResponse(c.node, (AppendResponse) message);
            }
        });
    }

    private void proposerInput(SimProposer p, Runnable input) {
        proposerInput(p, -1, input);
    }

    /**
     * One input to a proposer: a step-down ends it; an {@link IllegalStateException} on a node's
     * message means that node broke the protocol, and its connection is dropped.
     */
    private void proposerInput(SimProposer p, int node, Runnable input) {
        if (p.dead) {
            return;
        }
        try {
            input.run();
        } catch (ProposerSteppedDown e) {
            sim.kill(p, e.getMessage());
            return;
        } catch (IllegalStateException e) {
            if (node < 0) {
                throw e;
            }
            sim.trace("proposer " + p.id + " drops node " + node + ": " + e.getMessage());
            close(p, node);
        }
        sim.afterProposerInput(p);
    }
}
