/**
 * The arm interface every backend implements (embedded simulator, ROS 2,
 * Gazebo through ROS 2, MCAP replay), in the manner of LeRobot's Robot class:
 * read an observation, send an action, learn what was actually applied.
 * The shield sits in front of `sendAction`; backends never see unchecked
 * commands from the runtime.
 */

export interface CameraImage {
  width: number;
  height: number;
  /** RGB, row-major, 3 bytes per pixel. */
  rgb: Uint8Array;
  /** Metres along the optical axis, row-major; absent when the camera gives none. */
  depth?: Float32Array;
}

export interface Observation {
  /** Named camera images. */
  images: Record<string, CameraImage>;
  jointPositions: Float64Array;
  jointVelocities: Float64Array;
  /** Measured joint efforts where the backend reports them. */
  jointEfforts?: Float64Array;
  /** Backend time in seconds (simulated or ROS time). */
  time: number;
}

export interface AppliedAction {
  /** The action the backend actually applied (after its own clamping). */
  action: Float64Array;
  time: number;
}

export interface Arm {
  readonly name: string;
  readonly jointNames: readonly string[];
  /** Dimension of the action `sendAction` takes. */
  readonly actionDim: number;
  /** True once the backend has nothing more to give (a replay past the end of its recording); absent on live arms. */
  readonly done?: boolean;
  getObservation(): Promise<Observation>;
  sendAction(action: Float64Array): Promise<AppliedAction>;
  close(): Promise<void>;
}
