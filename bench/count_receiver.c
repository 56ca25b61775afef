/* The ceiling of the netlink channel: a receiver that only counts NFT_MSG_TRACE messages on
 * NFNLGRP_NFTRACE with a 16 MiB buffer, and counts ENOBUFS. Built by bench/run.py with gcc;
 * prints {"messages": N, "enobufs": K} on SIGINT. */
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

int main(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("socket"); return 1; }
    int group = NFNLGRP_NFTRACE, size = 16 << 20;
    setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    struct sigaction act = { .sa_handler = on_signal };
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGTERM, &act, NULL);
    static char buf[1 << 18];
    unsigned long messages = 0, enobufs = 0;
    while (!stop) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) { if (errno == ENOBUFS) enobufs++; continue; }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n))
            if (h->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | 17)) messages++;
    }
    printf("{\"messages\": %lu, \"enobufs\": %lu}\n", messages, enobufs);
    return 0;
}
