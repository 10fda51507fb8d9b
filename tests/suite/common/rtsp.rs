//! A live test camera: an RTSP server (gst-rtsp-server) at
//! rtsp://127.0.0.1:<port>/cam in its own thread, optionally behind a login;
//! stopping it closes every client connection.

use gstreamer as gst;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

pub const H264: &str = "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=10/1 \
                    ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=5 ! rtph264pay name=pay0 pt=96 )";

/// Uncompressed video over RTP, which no camera in a residential community sends.
pub const RAW: &str = "( videotestsrc is-live=true ! video/x-raw,format=UYVY,width=160,height=120,framerate=5/1 \
                   ! rtpvrawpay name=pay0 pt=96 )";

/// A live test camera at rtsp://127.0.0.1:<port>/cam, in its own thread.
pub struct RtspCamera {
    main_loop: gst::glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RtspCamera {
    pub fn start(port: u16) -> Self {
        Self::serve(port, H264, None)
    }

    /// Serves `launch` at /cam; with `login`, only that user and password may play it.
    pub fn serve(port: u16, launch: &'static str, login: Option<(&'static str, &'static str)>) -> Self {
        gst::init().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let context = gst::glib::MainContext::new();
            let main_loop = gst::glib::MainLoop::new(Some(&context), false);
            context
                .with_thread_default(|| {
                    let server = rtsp::RTSPServer::new();
                    server.set_address("127.0.0.1");
                    server.set_service(&port.to_string());
                    let factory = rtsp::RTSPMediaFactory::new();
                    factory.set_launch(launch);
                    factory.set_shared(true);
                    if let Some((user, password)) = login {
                        let auth = rtsp::RTSPAuth::new();
                        let token = rtsp::RTSPToken::builder().field("media.factory.role", "viewer").build();
                        auth.add_basic(&rtsp::RTSPAuth::make_basic(user, password), &token);
                        server.set_auth(Some(&auth));
                        factory.add_role_from_structure(
                            &gst::Structure::builder("viewer")
                                .field("media.factory.access", true)
                                .field("media.factory.construct", true)
                                .build(),
                        );
                    }
                    server.mount_points().unwrap().add_factory("/cam", factory);
                    let source = server.attach(Some(&context)).unwrap();
                    tx.send(main_loop.clone()).unwrap();
                    main_loop.run();
                    // Stopping: close every client connection, then the listening socket.
                    server.client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
                    if let Some(source) = context.find_source_by_id(&source) {
                        source.destroy();
                    }
                })
                .unwrap();
        });
        let main_loop = rx.recv().unwrap();
        Self {
            main_loop,
            thread: Some(thread),
        }
    }

    pub fn stop(mut self) {
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}
