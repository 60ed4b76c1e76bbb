//! Terminals made inside the container, as runc makes them: the process opens the `/dev/ptmx` of
//! the container's own devpts, keeps the slave (`/dev/pts/N` there) as its controlling terminal,
//! and sends the master over a unix socket to whoever pumps it (the monitor for PID 1, the CLI for
//! `exec -t`). So `tty` inside says `/dev/pts/0` and `ps` shows `pts/0`, as in Docker.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};

/// Open a new pty from `ptmx` (a devpts instance's multiplexer); returns the master and the
/// slave's number (its path is `pts/N` beside `ptmx`).
pub fn open_pty(ptmx: &std::path::Path) -> std::io::Result<(OwnedFd, OwnedFd, i32)> {
    let cp = CString::new(ptmx.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: opening a path we own a C string for.
    let m = unsafe { libc::open(cp.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if m < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a descriptor we just opened.
    let master = unsafe { OwnedFd::from_raw_fd(m) };
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK and TIOCGPTN take a pointer to an int.
    unsafe {
        if libc::ioctl(m, libc::TIOCSPTLCK, &n) != 0 || libc::ioctl(m, libc::TIOCGPTN, &mut n) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    let slave_path = ptmx.with_file_name(n.to_string());
    let cs = CString::new(slave_path.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: as above.
    let s = unsafe { libc::open(cs.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if s < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a descriptor we just opened.
    Ok((master, unsafe { OwnedFd::from_raw_fd(s) }, n))
}

/// A connected pair of close-on-exec `SOCK_SEQPACKET` unix sockets (messages keep their bounds).
pub fn seqpacket_pair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair fills two descriptors.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(Error::Runtime(format!(
            "socketpair: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: two descriptors we just made and own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Send one message, with a descriptor if given; whether it went.
pub fn send(sock: &OwnedFd, msg: &str, fd: Option<RawFd>) -> bool {
    let mut iov = libc::iovec {
        iov_base: msg.as_ptr() as *mut libc::c_void,
        iov_len: msg.len(),
    };
    // Room for one descriptor, aligned for cmsghdr.
    let mut space = [0u64; 8];
    // SAFETY: msghdr is plain data; zero is a valid empty value.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    if let Some(fd) = fd {
        // SAFETY: the control buffer is large enough for one SCM_RIGHTS message with one int.
        unsafe {
            hdr.msg_control = space.as_mut_ptr().cast();
            hdr.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as _;
            let cmsg = libc::CMSG_FIRSTHDR(&hdr);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        }
    }
    // SAFETY: sending a fully initialised msghdr on an open socket.
    unsafe { libc::sendmsg(sock.as_raw_fd(), &hdr, libc::MSG_NOSIGNAL) >= 0 }
}

/// Receive one message and the descriptor it carries, if any; `None` at the end.
pub fn recv(sock: &OwnedFd) -> Option<(String, Option<OwnedFd>)> {
    let mut buf = vec![0u8; 8192];
    loop {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut space = [0u64; 8];
        // SAFETY: msghdr is plain data; zero is a valid empty value.
        let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = space.as_mut_ptr().cast();
        hdr.msg_controllen = std::mem::size_of_val(&space) as _;
        // SAFETY: receiving into buffers that outlive the call.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut hdr, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return None;
        }
        if n == 0 {
            return None;
        }
        let mut fd = None;
        // SAFETY: walking the control messages the kernel wrote into `space`.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&hdr);
            if !cmsg.is_null()
                && (*cmsg).cmsg_level == libc::SOL_SOCKET
                && (*cmsg).cmsg_type == libc::SCM_RIGHTS
            {
                let raw = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
                fd = Some(OwnedFd::from_raw_fd(raw));
            }
        }
        return Some((String::from_utf8_lossy(&buf[..n as usize]).into_owned(), fd));
    }
}
