#ifndef FWTRACE_CNETFILTER_SHIM_H
#define FWTRACE_CNETFILTER_SHIM_H
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <libnetfilter_log/libnetfilter_log.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/types.h>

// glibc declares these only under _GNU_SOURCE, which would split the C types from Swift's
// Glibc module; declare them here instead (they are in every glibc fwtrace supports).
extern int setns(int fd, int nstype);
extern int unshare(int flags);
static inline int fwt_unshare(int flags) { return unshare(flags); }
extern int pipe2(int pipefd[2], int flags);
// accept4 too (the control socket's connections get SOCK_CLOEXEC atomically).
extern int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);
static inline int fwt_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) { return accept4(fd, addr, len, flags); }

// recvmmsg(2) and struct mmsghdr are GNU extensions too: the kernel's struct under a prefixed
// name, and the call through syscall(2), so no glibc declaration can clash with them.
#include <sys/syscall.h>
#include <unistd.h>
struct fwt_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};
static inline int fwt_recvmmsg(int fd, struct fwt_mmsghdr *vector, unsigned int count, int flags) {
    return (int)syscall(SYS_recvmmsg, fd, vector, count, flags, (void *)0);
}

// Macros the Swift importer cannot see, re-exported as constants.
static const int fwt_sol_netlink = SOL_NETLINK;
static const int fwt_netlink_add_membership = NETLINK_ADD_MEMBERSHIP;
static const int fwt_netlink_no_enobufs = NETLINK_NO_ENOBUFS;
static const int fwt_clone_newnet = 0x40000000; /* CLONE_NEWNET */
static const unsigned int fwt_nfnlgrp_nftrace = NFNLGRP_NFTRACE;
static const unsigned int fwt_nfnlgrp_nftables = NFNLGRP_NFTABLES;
static const int fwt_nfula_max = NFULA_MAX;
static const int fwt_sfd_nonblock = SFD_NONBLOCK;
static const int fwt_sfd_cloexec = SFD_CLOEXEC;
static const int fwt_efd_nonblock = EFD_NONBLOCK;
static const int fwt_efd_cloexec = EFD_CLOEXEC;

// struct ucred and SO_PEERCRED are also _GNU_SOURCE-only: the control socket's peer check.
struct fwt_ucred { pid_t pid; uid_t uid; gid_t gid; };
static const int fwt_so_peercred = 17; /* SO_PEERCRED */
static const int fwt_so_peergroups = 59; /* SO_PEERGROUPS, Linux 4.13 */
#endif
